#ifndef CAPSKIT_CHDF5_SHIM_H
#define CAPSKIT_CHDF5_SHIM_H
#include <hdf5.h>

// HDF5 exposes these as macros that expand to library globals (after H5open); Swift cannot
// import them, so they are wrapped as inline functions.
static inline hid_t capskit_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t capskit_h5s_all(void) { return H5S_ALL; }
static inline hid_t capskit_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t capskit_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t capskit_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t capskit_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t capskit_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t capskit_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t capskit_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t capskit_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t capskit_c_s1(void) { return H5T_C_S1; }
static inline hid_t capskit_file_access_props(void) { return H5P_FILE_ACCESS; }
static inline hid_t capskit_dataset_create_props(void) { return H5P_DATASET_CREATE; }
static inline unsigned capskit_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned capskit_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned capskit_acc_trunc(void) { return H5F_ACC_TRUNC; }

static inline hid_t capskit_native_int32(void) { return H5T_NATIVE_INT32; }
static inline size_t capskit_h5t_variable(void) { return H5T_VARIABLE; }

#endif
