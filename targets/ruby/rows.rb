# The row every export target writes, in any language: fixtures/rows.json
# and the recipe in fixtures/README.md (targets/row.go is the reference).
require 'json'

module SeedRows
  SHAPE = JSON.parse(File.read(File.join(__dir__, '..', '..', 'fixtures', 'rows.json')))
  NAMES = SHAPE.fetch('names')
  NOTES = SHAPE.fetch('notes')
  MASK = (1 << 64) - 1

  # SplitMix64's finaliser on a 64-bit x.
  def self.splitmix(x)
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    x ^ (x >> 31)
  end

  PATTERN = begin
    alphabet = SHAPE.fetch('alphabet')
    x = 0x9E3779B97F4A7C15
    Array.new(SHAPE.fetch('pattern_length')) { alphabet[(x = splitmix(x)) % alphabet.size] }.join.freeze
  end

  # Row id: an id, text fields that need escaping, 16 binary bytes as hex,
  # and a width-character payload.
  def self.row(id, width)
    off = splitmix(id + 1) % (PATTERN.size - width + 1)
    {
      id: id,
      name: NAMES[id % NAMES.size],
      note: NOTES[(id * 5 + 3) % NOTES.size],
      blob: format('%016x%016x', splitmix(id), splitmix(~id & MASK)),
      payload: PATTERN[off, width],
    }
  end
end
