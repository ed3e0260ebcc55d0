// The model types (CapsModel, CapsNetConfiguration, ModelMetadata, Tensor) are part of
// CapsRuntime's API: `import CapsRuntime` gives them, so an inference-only client needs no
// other import.
@_exported public import CapsCore
