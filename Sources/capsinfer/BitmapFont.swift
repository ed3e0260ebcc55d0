/// A 3x5-pixel font drawn by capsinfer itself (no font library): digits, capital letters (lower
/// case is drawn as upper case) and a few signs; any other character is drawn as `?`.
enum BitmapFont {
  /// Glyph width and height in pixels; characters advance by `width + 1`.
  static let width = 3
  static let height = 5
  static let advance = width + 1

  /// Width in pixels of `text` (no trailing space).
  static func width(of text: String) -> Int { text.isEmpty ? 0 : text.count * advance - 1 }

  /// The glyph of `character`: five rows of three bits, most significant bit on the left.
  static func glyph(_ character: Character) -> [UInt8] {
    let upper = Character(character.uppercased())
    return glyphs[upper] ?? glyphs["?"]!
  }

  /// Draws `text` with its top-left corner at (`x`, `y`), in `value`; pixels outside the canvas are
  /// clipped.
  static func draw(_ text: String, x: Int, y: Int, value: Float, on canvas: inout Canvas) {
    for (index, character) in text.enumerated() {
      let rows = glyph(character)
      for (dy, bits) in rows.enumerated() {
        for dx in 0..<width where bits & (1 << (width - 1 - dx)) != 0 {
          canvas.set(x: x + index * advance + dx, y: y + dy, value)
        }
      }
    }
  }

  private static let glyphs: [Character: [UInt8]] = {
    let drawn: [Character: [String]] = [
      "0": ["###", "#.#", "#.#", "#.#", "###"], "1": [".#.", "##.", ".#.", ".#.", "###"],
      "2": ["###", "..#", "###", "#..", "###"], "3": ["###", "..#", ".##", "..#", "###"],
      "4": ["#.#", "#.#", "###", "..#", "..#"], "5": ["###", "#..", "###", "..#", "###"],
      "6": ["###", "#..", "###", "#.#", "###"], "7": ["###", "..#", "..#", ".#.", ".#."],
      "8": ["###", "#.#", "###", "#.#", "###"], "9": ["###", "#.#", "###", "..#", "###"],
      "A": [".#.", "#.#", "###", "#.#", "#.#"], "B": ["##.", "#.#", "##.", "#.#", "##."],
      "C": [".##", "#..", "#..", "#..", ".##"], "D": ["##.", "#.#", "#.#", "#.#", "##."],
      "E": ["###", "#..", "##.", "#..", "###"], "F": ["###", "#..", "##.", "#..", "#.."],
      "G": [".##", "#..", "#.#", "#.#", ".##"], "H": ["#.#", "#.#", "###", "#.#", "#.#"],
      "I": ["###", ".#.", ".#.", ".#.", "###"], "J": ["..#", "..#", "..#", "#.#", ".#."],
      "K": ["#.#", "#.#", "##.", "#.#", "#.#"], "L": ["#..", "#..", "#..", "#..", "###"],
      "M": ["#.#", "###", "###", "#.#", "#.#"], "N": ["##.", "#.#", "#.#", "#.#", "#.#"],
      "O": [".#.", "#.#", "#.#", "#.#", ".#."], "P": ["##.", "#.#", "##.", "#..", "#.."],
      "Q": [".#.", "#.#", "#.#", "##.", ".##"], "R": ["##.", "#.#", "##.", "#.#", "#.#"],
      "S": [".##", "#..", ".#.", "..#", "##."], "T": ["###", ".#.", ".#.", ".#.", ".#."],
      "U": ["#.#", "#.#", "#.#", "#.#", "###"], "V": ["#.#", "#.#", "#.#", "#.#", ".#."],
      "W": ["#.#", "#.#", "###", "###", "#.#"], "X": ["#.#", "#.#", ".#.", "#.#", "#.#"],
      "Y": ["#.#", "#.#", ".#.", ".#.", ".#."], "Z": ["###", "..#", ".#.", "#..", "###"],
      "-": ["...", "...", "###", "...", "..."], "+": ["...", ".#.", "###", ".#.", "..."],
      ".": ["...", "...", "...", "...", ".#."], "?": ["##.", "..#", ".#.", "...", ".#."],
      "!": [".#.", ".#.", ".#.", "...", ".#."], "_": ["...", "...", "...", "...", "###"],
      " ": ["...", "...", "...", "...", "..."], "=": ["...", "###", "...", "###", "..."],
      "/": ["..#", "..#", ".#.", "#..", "#.."], ":": ["...", ".#.", "...", ".#.", "..."],
    ]
    return drawn.mapValues { rows in
      rows.map { row in row.reduce(UInt8(0)) { $0 << 1 | ($1 == "#" ? 1 : 0) } }
    }
  }()
}

/// A grayscale drawing surface (0...255) for the sheets capsinfer writes.
struct Canvas {
  let width: Int
  let height: Int
  var pixels: [Float]

  init(width: Int, height: Int, background: Float) {
    self.width = width
    self.height = height
    pixels = [Float](repeating: background, count: width * height)
  }

  /// Sets one pixel; coordinates outside the canvas are ignored.
  mutating func set(x: Int, y: Int, _ value: Float) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    pixels[y * width + x] = value
  }

  /// Fills a rectangle (clipped to the canvas).
  mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ value: Float) {
    for row in max(0, y)..<min(height, y + h) {
      for column in max(0, x)..<min(width, x + w) { pixels[row * width + column] = value }
    }
  }

  /// Copies a `side`x`side` image whose values are `scale` times the stored ones to (`x`, `y`).
  mutating func paste<C: Collection>(_ image: C, side: Int, x: Int, y: Int, scale: Float)
  where C.Element == Float, C.Index == Int {
    let start = image.startIndex
    for row in 0..<side {
      for column in 0..<side { set(x: x + column, y: y + row, image[start + row * side + column] * scale) }
    }
  }
}
