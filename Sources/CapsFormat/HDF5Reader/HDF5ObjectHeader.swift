/// One header message: its type (HDF5 numbering), flags and body.
struct HDF5Message {
  var type: Int
  var flags: UInt8
  var body: [UInt8]

  static let dataspace = 0x01
  static let linkInfo = 0x02
  static let datatype = 0x03
  static let oldFillValue = 0x04
  static let fillValue = 0x05
  static let link = 0x06
  static let layout = 0x08
  static let filterPipeline = 0x0B
  static let attribute = 0x0C
  static let continuation = 0x10
  static let symbolTable = 0x11
  static let attributeInfo = 0x15

  /// Bit 1 of the flags: the body only points at a message stored elsewhere (shared/committed).
  var isShared: Bool { flags & 0x02 != 0 }
}

/// An object (group or dataset): the messages of its header, continuation blocks included.
struct HDF5Object {
  let address: UInt64
  let messages: [HDF5Message]

  /// Bounds on what one header may hold, so that a corrupt one cannot loop or grow without end.
  static let maxChunks = 4096
  static let maxMessages = 65_536

  var isGroup: Bool {
    messages.contains { [HDF5Message.symbolTable, HDF5Message.linkInfo, HDF5Message.link].contains($0.type) }
  }
  var isDataset: Bool { messages.contains { $0.type == HDF5Message.layout } }

  func first(_ type: Int) -> HDF5Message? { messages.first { $0.type == type } }
  func all(_ type: Int) -> [HDF5Message] { messages.filter { $0.type == type } }

  /// Reads the object header at `address` (version 1 or 2) and its continuation blocks.
  static func read(at address: UInt64, in context: HDF5Context) throws(HDF5Error) -> HDF5Object {
    let storage = context.storage
    let head = try storage.metadataPrefix(at: address, upTo: 34, what: "object header")
    var messages: [HDF5Message] = []
    var pending: [(address: UInt64, length: Int)] = []
    var visited: Set<UInt64> = [address]
    let version2: Bool
    var trackOrder = false
    if head.count >= 4, Array(head[0..<4]) == Array("OHDR".utf8) {
      version2 = true
      var cursor = HDF5Cursor(head, at: 4, what: "object header at \(address)", storage: storage)
      let version = try cursor.uint8()
      guard version == 2 else { throw cursor.unsupported("unsupported version \(version)") }
      let flags = try cursor.uint8()
      trackOrder = flags & 0x04 != 0
      if flags & 0x20 != 0 { try cursor.skip(16) }
      if flags & 0x10 != 0 { try cursor.skip(4) }
      let chunkSize = try cursor.size(
        1 << Int(flags & 0x03), limit: HDF5Storage.maxMetadataBlock, "chunk size")
      let prefix = cursor.position
      let block = try storage.metadata(at: address, count: prefix + chunkSize + 4, what: "object header")
      var chunk = HDF5Cursor(
        block, at: prefix + chunkSize, what: "object header at \(address)", storage: storage)
      try chunk.expectChecksum(from: 0)
      try parseMessages(
        block[prefix..<(prefix + chunkSize)], version2: true, trackOrder: trackOrder, context: context,
        into: &messages, pending: &pending)
    } else {
      version2 = false
      var cursor = HDF5Cursor(head, what: "object header at \(address)", storage: storage)
      let version = try cursor.uint8()
      guard version == 1 else { throw cursor.unsupported("unsupported version \(version)") }
      try cursor.skip(1 + 2 + 4)  // reserved, message count, reference count
      let chunkSize = try cursor.size(4, limit: HDF5Storage.maxMetadataBlock, "header size")
      let block = try storage.metadata(at: address + 16, count: chunkSize, what: "object header")
      try parseMessages(
        block[...], version2: false, trackOrder: false, context: context, into: &messages, pending: &pending)
    }
    var chunks = 1
    while let next = pending.first {
      pending.removeFirst()
      chunks += 1
      guard chunks <= maxChunks, visited.insert(next.address).inserted else {
        throw storage.corrupt("object header at \(address) has a continuation loop or too many chunks")
      }
      let block = try storage.metadata(
        at: next.address, count: next.length, what: "object header continuation")
      if version2 {
        var cursor = HDF5Cursor(
          block, what: "object header continuation at \(next.address)", storage: storage)
        try cursor.expectSignature("OCHK")
        guard block.count >= 8 else { throw cursor.fail("too short") }
        cursor.position = block.count - 4
        try cursor.expectChecksum(from: 0)
        try parseMessages(
          block[4..<(block.count - 4)], version2: true, trackOrder: trackOrder, context: context,
          into: &messages, pending: &pending)
      } else {
        try parseMessages(
          block[...], version2: false, trackOrder: false, context: context, into: &messages, pending: &pending
        )
      }
    }
    return HDF5Object(address: address, messages: messages)
  }

  private static func parseMessages(
    _ chunk: ArraySlice<UInt8>, version2: Bool, trackOrder: Bool, context: HDF5Context,
    into messages: inout [HDF5Message], pending: inout [(address: UInt64, length: Int)]
  ) throws(HDF5Error) {
    var cursor = HDF5Cursor(Array(chunk), what: "object header message", storage: context.storage)
    let headerSize = version2 ? (trackOrder ? 6 : 4) : 8
    while cursor.remaining >= headerSize {
      let type: Int
      let size: Int
      let flags: UInt8
      if version2 {
        type = Int(try cursor.uint8())
        size = try cursor.u16()
        flags = try cursor.uint8()
        if trackOrder { try cursor.skip(2) }
      } else {
        type = try cursor.u16()
        size = try cursor.u16()
        flags = try cursor.uint8()
        try cursor.skip(3)
      }
      let body = Array(try cursor.take(size))
      guard messages.count < maxMessages else {
        throw cursor.failure(.limitExceeded, "more than \(maxMessages) messages")
      }
      if type == HDF5Message.continuation {
        var reader = HDF5Cursor(body, what: "continuation message", storage: context.storage)
        guard let target = try reader.address(context.sizes) else { continue }
        let length = try reader.length(
          context.sizes, limit: HDF5Storage.maxMetadataBlock, "continuation length")
        pending.append((target, length))
      } else if type != 0 {
        messages.append(HDF5Message(type: type, flags: flags, body: body))
      }
    }
  }
}

/// What every structure parser needs: the bytes and the superblock's sizes.
struct HDF5Context {
  let storage: HDF5Storage
  let sizes: HDF5Sizes

  func cursor(_ bytes: [UInt8], at position: Int = 0, what: String) -> HDF5Cursor {
    HDF5Cursor(bytes, at: position, what: what, storage: storage)
  }
}

/// A message stored once in another object's header and pointed at (shared message versions 1-3):
/// how h5py's committed datatypes (`f['t'] = numpy.dtype(...)`) reach the datasets and attributes
/// that use them.
enum HDF5SharedMessage {
  /// The body of the message of `type` that `pointer` (a shared message's body) points at; the
  /// target must hold that message itself, not another pointer.
  static func resolve(_ pointer: [UInt8], type: Int, context: HDF5Context) throws(HDF5Error) -> [UInt8] {
    var cursor = context.cursor(pointer, what: "shared message")
    let version = try cursor.uint8()
    let kind = try cursor.uint8()
    switch version {
    case 1: try cursor.skip(6)  // reserved
    case 2: break
    case 3:
      guard kind == 2 else {
        throw cursor.unsupported("stored in the file's shared message heap, which CapsKit does not read")
      }
    default: throw cursor.unsupported("unsupported version \(version)")
    }
    guard let address = try cursor.address(context.sizes) else { throw cursor.fail("undefined address") }
    let target = try HDF5Object.read(at: address, in: context)
    guard let message = target.first(type) else {
      throw cursor.fail("the object at \(address) has no message of type \(type)")
    }
    guard !message.isShared else { throw cursor.fail("points at another shared message") }
    return message.body
  }
}
