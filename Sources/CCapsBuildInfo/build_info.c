#include "capskit_build_info.h"

// The one place the package version is written. Tools/user/install.sh and the release tarball
// script read it back from `capsconv --version`.
#define CAPSKIT_VERSION "0.1.0"

#ifndef CAPSKIT_GIT_COMMIT
#define CAPSKIT_GIT_COMMIT "unknown"
#endif

const char *capskit_version(void) { return CAPSKIT_VERSION; }

const char *capskit_git_commit(void) { return CAPSKIT_GIT_COMMIT; }

const char *capskit_version_line(void) {
  return CAPSKIT_VERSION " (commit " CAPSKIT_GIT_COMMIT ")";
}
