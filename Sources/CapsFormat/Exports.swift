// The model types (Tensor, CapsModel, ...) are part of CapsFormat's API: `import CapsFormat` keeps
// giving them, as before CapsCore existed.
@_exported public import CapsCore
