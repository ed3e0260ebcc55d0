/// Image formats other than PNG, recognised by their first bytes so that a file that is not a PNG is
/// named for what it is (`JPEG file, not PNG`) rather than reported as a bad signature.
public enum ImageSignature: String, CaseIterable, Equatable, Sendable {
  case jpeg, gif, bmp, tiff, webp, avif, heic, ico, jpeg2000, pdf, svg

  /// Recognises the format from the first bytes of a file (16 are enough); nil when none matches.
  public init?(of prefix: ArraySlice<UInt8>) {
    let bytes = Array(prefix.prefix(16))
    func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
      bytes.count >= offset + magic.count && Array(bytes[offset..<(offset + magic.count)]) == magic
    }
    func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }
    if starts([0xFF, 0xD8, 0xFF]) {
      self = .jpeg
    } else if ascii("GIF87a") || ascii("GIF89a") {
      self = .gif
    } else if ascii("BM") && bytes.count >= 14 {
      self = .bmp
    } else if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) {
      self = .tiff
    } else if ascii("RIFF") && ascii("WEBP", at: 8) {
      self = .webp
    } else if ascii("ftypavif", at: 4) || ascii("ftypavis", at: 4) {
      self = .avif
    } else if ascii("ftypheic", at: 4) || ascii("ftypheix", at: 4) || ascii("ftypmif1", at: 4) {
      self = .heic
    } else if starts([0x00, 0x00, 0x01, 0x00]) && bytes.count >= 6 {
      self = .ico
    } else if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
      self = .jpeg2000
    } else if ascii("%PDF-") {
      self = .pdf
    } else if ascii("<svg") || ascii("<?xml") {
      self = .svg
    } else {
      return nil
    }
  }

  /// The format's usual name: `JPEG`, `GIF`, `BMP`, `TIFF`, `WebP`, ...
  public var name: String {
    switch self {
    case .jpeg: "JPEG"
    case .gif: "GIF"
    case .bmp: "BMP"
    case .tiff: "TIFF"
    case .webp: "WebP"
    case .avif: "AVIF"
    case .heic: "HEIC"
    case .ico: "ICO"
    case .jpeg2000: "JPEG 2000"
    case .pdf: "PDF"
    case .svg: "SVG or XML"
    }
  }

  /// The format a file name's extension suggests (case-insensitive), for counting skipped files.
  public init?(fileExtension: String) {
    switch fileExtension.lowercased() {
    case "jpg", "jpeg", "jpe", "jfif": self = .jpeg
    case "gif": self = .gif
    case "bmp", "dib": self = .bmp
    case "tif", "tiff": self = .tiff
    case "webp": self = .webp
    case "avif": self = .avif
    case "heic", "heif": self = .heic
    case "ico": self = .ico
    case "jp2", "j2k": self = .jpeg2000
    case "pdf": self = .pdf
    case "svg": self = .svg
    default: return nil
    }
  }
}
