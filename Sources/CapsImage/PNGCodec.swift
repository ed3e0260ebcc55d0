internal import CPNGSupport

/// Size limits checked against the PNG header before any image memory is allocated.
public struct ImageLimits: Equatable, Sendable {
  /// Largest accepted width in pixels. Default 8192.
  public var maxWidth: Int
  /// Largest accepted height in pixels. Default 8192.
  public var maxHeight: Int
  /// Largest accepted `width * height`. Default 16 Mi (16,777,216) pixels.
  public var maxPixels: Int
  /// Largest accepted file, in bytes, when reading from disk. Default 256 MiB.
  public var maxFileBytes: Int
  /// Largest ancillary chunk (text, ICC profile, ...) libpng may allocate. Default 8 MiB.
  public var maxChunkBytes: Int

  /// Creates limits; every value must be at least 1.
  public init(
    maxWidth: Int = 8192, maxHeight: Int = 8192, maxPixels: Int = 16_777_216,
    maxFileBytes: Int = 256 << 20, maxChunkBytes: Int = 8 << 20
  ) {
    self.maxWidth = maxWidth
    self.maxHeight = maxHeight
    self.maxPixels = maxPixels
    self.maxFileBytes = maxFileBytes
    self.maxChunkBytes = maxChunkBytes
  }

  /// 8192 x 8192 at most, 16 Mi pixels, 256 MiB files, 8 MiB ancillary chunks.
  public static let standard = ImageLimits()

  var cLimits: cps_png_limits {
    func clamp32(_ value: Int) -> UInt32 { UInt32(clamping: max(value, 1)) }
    return cps_png_limits(
      max_width: clamp32(maxWidth), max_height: clamp32(maxHeight),
      max_pixels: UInt64(clamping: max(maxPixels, 1)), max_chunk_bytes: clamp32(maxChunkBytes))
  }
}

/// The PNG colour types.
public enum PNGColorType: UInt8, Equatable, Sendable {
  /// Grayscale (bit depth 1, 2, 4, 8 or 16).
  case gray = 0
  /// RGB (bit depth 8 or 16).
  case rgb = 2
  /// Palette indices (bit depth 1, 2, 4 or 8) into 8-bit RGB entries.
  case palette = 3
  /// Grayscale with alpha (bit depth 8 or 16).
  case grayAlpha = 4
  /// RGB with alpha (bit depth 8 or 16).
  case rgba = 6
}

/// The header (IHDR) of a PNG file, plus whether a tRNS chunk is present.
public struct PNGHeader: Equatable, Sendable {
  /// Width in pixels.
  public var width: Int
  /// Height in pixels.
  public var height: Int
  /// Bits per sample (per palette index for palette images): 1, 2, 4, 8 or 16.
  public var bitDepth: Int
  /// The colour type.
  public var colorType: PNGColorType
  /// Whether the image data is Adam7-interlaced.
  public var isInterlaced: Bool
  /// Whether a tRNS (simple transparency) chunk precedes the image data.
  public var hasTransparencyChunk: Bool

  /// Creates a header value.
  public init(
    width: Int, height: Int, bitDepth: Int, colorType: PNGColorType, isInterlaced: Bool,
    hasTransparencyChunk: Bool
  ) {
    self.width = width
    self.height = height
    self.bitDepth = bitDepth
    self.colorType = colorType
    self.isInterlaced = isInterlaced
    self.hasTransparencyChunk = hasTransparencyChunk
  }
}

/// PNG decoding to luminance and 8-bit gray encoding (libpng, wrapped in C so that its `longjmp`
/// error handling never crosses Swift frames).
///
/// Decoding rules:
/// - Every colour type, bit depth 1...16 and Adam7 interlacing is accepted.
/// - Luminance is computed with integers on the native bit depth, without gamma:
///   `Y = (299 R + 587 G + 114 B + 500) / 1000` (integer division), so pixels with R = G = B decode to
///   exactly that level. Palette entries are 8-bit RGB.
/// - 8-bit values are used as they are; 16-bit values map to `Float(v16) / 257` (so `v8 * 257` gives exactly
///   `v8`); 1-, 2- and 4-bit gray scale exactly to 0...255 (x255, x85, x17).
/// - Alpha (an alpha channel, or a tRNS chunk) is composited over a uniform background, black (0) by
///   default: `value = (Y * a + background * (max - a)) / max`. Fully opaque pixels keep `Y` exactly,
///   fully transparent pixels become the background. Black suits white-on-black digits, whose
///   transparent areas are background; pass `alphaBackground: 255` for dark ink on a transparent sheet.
/// - Limits (``ImageLimits``) are checked against IHDR before anything is allocated; zero width or
///   height is refused.
public enum PNGCodec {
  /// Reads and validates the PNG signature and the chunks preceding the image data.
  ///
  /// - Parameters:
  ///   - data: The PNG file contents (at least up to the first IDAT chunk).
  ///   - name: The file name used in error messages.
  ///   - limits: Width, height and pixel-count limits to enforce.
  /// - Throws: ``ImageError`` for non-PNG data, truncation, corruption, zero or excessive size.
  public static func readHeader(_ data: [UInt8], name: String, limits: ImageLimits = .standard) throws
    -> PNGHeader
  {
    var header = cps_png_header()
    var cLimits = limits.cLimits
    var message = [CChar](repeating: 0, count: Int(CPS_PNG_MESSAGE_CAPACITY))
    let status = data.withUnsafeBufferPointer { bytes in
      message.withUnsafeMutableBufferPointer { text in
        cps_png_read_header(
          bytes.baseAddress, bytes.count, &cLimits, &header, text.baseAddress, text.count)
      }
    }
    guard status == Int32(CPS_PNG_OK) else { throw error(status, message, name, data) }
    return try swiftHeader(header, name: name)
  }

  /// Decodes a PNG file held in memory into a luminance image on the 0...255 scale.
  ///
  /// See ``PNGCodec`` for the exact conversion, alpha and limit rules.
  /// - Parameters:
  ///   - data: The complete PNG file contents.
  ///   - name: The file name used in error messages.
  ///   - limits: Width, height and pixel-count limits, checked before allocating.
  ///   - alphaBackground: The gray level (0...255) that transparent pixels are composited over.
  /// - Throws: ``ImageError`` for non-PNG data, truncation, corruption (including CRC errors in
  ///   critical chunks), zero or excessive size, or memory exhaustion.
  public static func decode(
    _ data: [UInt8], name: String, limits: ImageLimits = .standard, alphaBackground: Float = 0
  ) throws -> GrayImage {
    try decodeSamples(data, name: name, limits: limits).luminance(background: alphaBackground)
  }

  /// Decodes a PNG file held in memory into its samples (every channel, before any conversion to gray);
  /// see ``DecodedPNG``.
  ///
  /// - Throws: ``ImageError`` as ``decode(_:name:limits:alphaBackground:)``.
  public static func decodeSamples(_ data: [UInt8], name: String, limits: ImageLimits = .standard) throws
    -> DecodedPNG
  {
    var image = cps_png_image()
    var cLimits = limits.cLimits
    var message = [CChar](repeating: 0, count: Int(CPS_PNG_MESSAGE_CAPACITY))
    let status = data.withUnsafeBufferPointer { bytes in
      message.withUnsafeMutableBufferPointer { text in
        cps_png_decode(bytes.baseAddress, bytes.count, &cLimits, &image, text.baseAddress, text.count)
      }
    }
    guard status == Int32(CPS_PNG_OK) else {
      cps_png_image_free(&image)
      throw error(status, message, name, data)
    }
    return try DecodedPNG(taking: image, name: name)
  }

  /// Encodes an image as an 8-bit grayscale PNG.
  ///
  /// Pixels are rounded to the nearest integer and clamped to 0...255 (see ``GrayImage/bytes``).
  /// - Parameters:
  ///   - image: The image to encode.
  ///   - interlaced: Whether to write Adam7-interlaced data.
  ///   - name: The name used in error messages.
  /// - Returns: The PNG file contents.
  /// - Throws: ``ImageError`` if libpng fails.
  public static func encodeGray8(_ image: GrayImage, interlaced: Bool = false, name: String = "image")
    throws -> [UInt8]
  {
    guard let width = UInt32(exactly: image.width), let height = UInt32(exactly: image.height) else {
      throw ImageError(
        source: name, kind: .limitExceeded, detail: "image too large for PNG (\(image.width)x\(image.height))"
      )
    }
    let pixels = image.bytes
    var buffer = cps_png_buffer()
    var message = [CChar](repeating: 0, count: Int(CPS_PNG_MESSAGE_CAPACITY))
    let status = pixels.withUnsafeBufferPointer { bytes in
      message.withUnsafeMutableBufferPointer { text in
        cps_png_encode_gray8(
          bytes.baseAddress, width, height, interlaced ? 1 : 0, &buffer, text.baseAddress, text.count)
      }
    }
    defer { cps_png_buffer_free(&buffer) }
    guard status == Int32(CPS_PNG_OK) else { throw error(status, message, name) }
    guard let data = buffer.data else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: buffer.size))
  }

  static func error(_ status: Int32, _ message: [CChar], _ name: String, _ data: [UInt8] = [])
    -> ImageError
  {
    let text = String(
      decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let kind: ImageError.Kind
    switch Int(status) {
    case Int(CPS_PNG_ERR_NOT_PNG):
      if let format = ImageSignature(of: data[...]) {
        return ImageError(source: name, kind: .wrongFormat, detail: "\(format.name) file, not PNG")
      }
      kind = .wrongFormat
    case Int(CPS_PNG_ERR_TRUNCATED): kind = .truncated
    case Int(CPS_PNG_ERR_CORRUPT): kind = .corrupt
    case Int(CPS_PNG_ERR_ZERO_SIZE): kind = .zeroSize
    case Int(CPS_PNG_ERR_TOO_LARGE): kind = .limitExceeded
    case Int(CPS_PNG_ERR_NO_MEMORY): kind = .outOfMemory
    default: kind = .invalidArgument
    }
    return ImageError(source: name, kind: kind, detail: text.isEmpty ? "PNG error \(status)" : text)
  }

  static func swiftHeader(_ header: cps_png_header, name: String) throws -> PNGHeader {
    guard let colorType = PNGColorType(rawValue: header.color_type) else {
      throw ImageError(
        source: name, kind: .corrupt, detail: "corrupt PNG (invalid colour type \(header.color_type))")
    }
    return PNGHeader(
      width: Int(header.width), height: Int(header.height), bitDepth: Int(header.bit_depth),
      colorType: colorType, isInterlaced: header.interlaced != 0, hasTransparencyChunk: header.has_trns != 0)
  }

  /// Converts the expanded samples (8 or 16 bits; gray, gray+alpha, RGB or RGBA) to luminance.
  static func luminance(of image: cps_png_image, name: String, background: Float) throws
    -> GrayImage
  {
    let width = Int(image.header.width)
    let height = Int(image.header.height)
    let channels = Int(image.channels)
    let wide = image.sample_bits == 16
    let rowBytes = image.row_bytes
    guard let base = image.pixels, (1...4).contains(channels),
      rowBytes == width * channels * (wide ? 2 : 1)
    else {
      throw ImageError(source: name, kind: .corrupt, detail: "corrupt PNG (unexpected decoded layout)")
    }
    let samples = UnsafeBufferPointer(start: base, count: rowBytes * height)
    let hasAlpha = channels == 2 || channels == 4
    let maxSample: UInt32 = wide ? 65535 : 255
    let backgroundLevel = Double(background)
    var pixels = [Float](repeating: 0, count: width * height)
    pixels.withUnsafeMutableBufferPointer { out in
      for y in 0..<height {
        var offset = y * rowBytes
        for x in 0..<width {
          var values: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
          for c in 0..<channels {
            let v: UInt32
            if wide {
              v = UInt32(samples[offset]) << 8 | UInt32(samples[offset + 1])
              offset += 2
            } else {
              v = UInt32(samples[offset])
              offset += 1
            }
            switch c {
            case 0: values.0 = v
            case 1: values.1 = v
            case 2: values.2 = v
            default: values.3 = v
            }
          }
          let level: UInt32
          let alpha: UInt32
          if channels >= 3 {
            level = (299 * values.0 + 587 * values.1 + 114 * values.2 + 500) / 1000
            alpha = channels == 4 ? values.3 : maxSample
          } else {
            level = values.0
            alpha = channels == 2 ? values.1 : maxSample
          }
          let opaque = wide ? Float(level) / 257 : Float(level)
          let value: Float
          if !hasAlpha || alpha == maxSample {
            value = opaque
          } else if alpha == 0 {
            value = background
          } else {
            let a = Double(alpha)
            let m = Double(maxSample)
            value = Float((Double(opaque) * a + backgroundLevel * (m - a)) / m)
          }
          out[y * width + x] = value
        }
      }
    }
    return GrayImage(unchecked: width, height, pixels)
  }
}

/// A decoded PNG image: every channel of every pixel, de-interlaced and expanded to 8 or 16 bits per sample
/// (palette images become RGB, tRNS becomes an alpha channel, low-bit gray is scaled to 8 bits).
///
/// Holds the decoder's buffer (`width * height * channels` samples) until it is released.
public final class DecodedPNG {
  /// Width in pixels.
  public let width: Int
  /// Height in pixels.
  public let height: Int
  /// 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
  public let channels: Int
  /// Whether samples are 16-bit (else 8-bit).
  public let isWide: Bool
  private var image: cps_png_image
  private let base: UnsafeMutablePointer<UInt8>
  private let rowBytes: Int

  init(taking image: cps_png_image, name: String) throws {
    var image = image
    let width = Int(image.header.width)
    let channels = Int(image.channels)
    let wide = image.sample_bits == 16
    guard let base = image.pixels, (1...4).contains(channels),
      image.row_bytes == width * channels * (wide ? 2 : 1)
    else {
      cps_png_image_free(&image)
      throw ImageError(source: name, kind: .corrupt, detail: "corrupt PNG (unexpected decoded layout)")
    }
    self.image = image
    self.base = base
    self.width = width
    self.height = Int(image.header.height)
    self.channels = channels
    self.isWide = wide
    self.rowBytes = image.row_bytes
  }

  deinit { cps_png_image_free(&image) }

  /// Whether the image has an alpha channel (its own, or from a tRNS chunk).
  public var hasAlpha: Bool { channels == 2 || channels == 4 }

  /// Writes row `y`'s samples, interleaved (`width * channels` values), on the 0...255 scale into `row`
  /// (16-bit samples divided by 257).
  public func samples(row y: Int, into row: UnsafeMutableBufferPointer<Float>) {
    precondition((0..<height).contains(y) && row.count >= width * channels, "row out of range")
    let start = base + y * rowBytes
    if isWide {
      for i in 0..<(width * channels) {
        row[i] = Float(UInt16(start[2 * i]) << 8 | UInt16(start[2 * i + 1])) / 257
      }
    } else {
      for i in 0..<(width * channels) { row[i] = Float(start[i]) }
    }
  }

  /// The luminance image (see ``PNGCodec``), with alpha composited over the gray level `background`.
  public func luminance(background: Float = 0) throws -> GrayImage {
    try PNGCodec.luminance(of: image, name: "image", background: background)
  }
}
