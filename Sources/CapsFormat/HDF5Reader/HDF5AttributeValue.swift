/// A root attribute's value, in the few shapes our metadata uses.
package enum HDF5AttributeValue: Sendable, Equatable {
  case integers([Int64])
  case doubles([Double])
  case strings([String])
  case unsupported
}
