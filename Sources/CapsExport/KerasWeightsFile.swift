import CapsFormat
import CapsHDF5Writer

/// The HDF5 structure of Keras's `save_weights`: root attributes `layer_names` (every layer, in
/// model order), `backend` and `keras_version`; one group per layer with attribute `weight_names`
/// (empty for a layer without weights); dataset `<layer>/<weight name>` per weight, whose name
/// holds a slash (`conv1/kernel:0`), so the dataset sits in a sub-group. Strings are fixed-length
/// byte strings, as Keras writes them with h5py, so that Keras 2's `.decode('utf8')` works on them.
enum KerasWeightsFile {
  /// The version Keras 2 records; CapsNet-Keras was written for Keras 2.
  static let kerasVersion = "2.2.4"

  static func bytes(layers: [LayoutTensors.KerasLayer], path: String) throws(HDF5Error) -> [UInt8] {
    let file = try HDF5Writer.createInMemory(path: path)
    try file.setByteStringAttribute("layer_names", layers.map(\.name), on: "/")
    try file.setByteStringAttribute("backend", ["tensorflow"], on: "/")
    try file.setByteStringAttribute("keras_version", [kerasVersion], on: "/")
    for layer in layers {
      try file.createGroup(layer.name)
      try file.setByteStringAttribute("weight_names", layer.weights.map(\.name), on: layer.name)
      var groups: Set<String> = []
      for (name, tensor) in layer.weights {
        let parts = name.split(separator: "/").map(String.init)
        var group = layer.name
        for part in parts.dropLast() {
          group += "/" + part
          if groups.insert(group).inserted { try file.createGroup(group) }
        }
        try file.write(layer.name + "/" + name, shape: tensor.shape, floats: tensor.values)
      }
    }
    return try file.fileImage()
  }
}
