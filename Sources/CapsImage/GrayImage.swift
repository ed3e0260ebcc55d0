/// A single-channel (luminance) image with `Float` pixels, row-major, top row first.
///
/// Decoded images hold values on the 0...255 scale; see ``PNGCodec/decode(_:name:limits:alphaBackground:)``.
public struct GrayImage: Equatable, Sendable {
  /// Width in pixels (at least 1).
  public let width: Int
  /// Height in pixels (at least 1).
  public let height: Int
  /// `width * height` pixel values, row-major: pixel (x, y) is at `y * width + x`.
  public private(set) var pixels: [Float]

  /// Creates an image from row-major pixels.
  ///
  /// - Throws: ``ImageError`` (``ImageError/Kind/invalidArgument``) if `width` or `height` is below 1
  ///   or `pixels.count != width * height`.
  public init(width: Int, height: Int, pixels: [Float]) throws {
    guard width >= 1, height >= 1 else {
      throw ImageError(
        source: "image", kind: .invalidArgument,
        detail: "invalid image size \(width)x\(height) (width and height must be at least 1)")
    }
    let (count, overflow) = width.multipliedReportingOverflow(by: height)
    guard !overflow, pixels.count == count else {
      throw ImageError(
        source: "image", kind: .invalidArgument,
        detail: "\(pixels.count) pixels given for a \(width)x\(height) image")
    }
    self.init(unchecked: width, height, pixels)
  }

  /// Creates an image from row-major 8-bit pixels (0...255).
  ///
  /// - Throws: ``ImageError`` under the same conditions as ``init(width:height:pixels:)``.
  public init(width: Int, height: Int, bytes: [UInt8]) throws {
    try self.init(width: width, height: height, pixels: bytes.map { Float($0) })
  }

  /// Creates an image of the given size with every pixel set to `value`.
  ///
  /// - Throws: ``ImageError`` (``ImageError/Kind/invalidArgument``) if `width` or `height` is below 1.
  public init(width: Int, height: Int, repeating value: Float) throws {
    guard width >= 1, height >= 1, !width.multipliedReportingOverflow(by: height).overflow else {
      throw ImageError(
        source: "image", kind: .invalidArgument,
        detail: "invalid image size \(width)x\(height) (width and height must be at least 1)")
    }
    self.init(unchecked: width, height, [Float](repeating: value, count: width * height))
  }

  init(unchecked width: Int, _ height: Int, _ pixels: [Float]) {
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  /// The pixel at column `x`, row `y` (both zero-based; must be inside the image).
  public subscript(x: Int, y: Int) -> Float {
    get { pixels[y * width + x] }
    set { pixels[y * width + x] = newValue }
  }

  /// The pixels rounded to the nearest integer and clamped to 0...255 (NaN becomes 0).
  public var bytes: [UInt8] {
    pixels.map { value in
      guard value == value else { return 0 }
      return UInt8(min(max(value, 0), 255).rounded(.toNearestOrAwayFromZero))
    }
  }
}
