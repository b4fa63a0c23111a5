package targets

import (
	"context"
	"encoding/binary"
	"encoding/hex"

	"github.com/floodharness/harness/fixtures"
)

// Row is one exported record. Its text fields come from fixed tables chosen
// to exercise every escaping rule of JSON and CSV, and Payload is Width bytes.
type Row struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Note    string `json:"note"`
	Blob    Blob   `json:"blob"`
	Payload string `json:"payload"`
}

// Blob is binary data that travels as lower-case hex, so no byte sequence
// in it can break a text encoder halfway through a stream.
type Blob [16]byte

// MarshalText encodes the blob as hex; encoding/json uses it for the
// buffered path, and the streamed encoders write the same characters.
func (b Blob) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, b[:]), nil
}

// UnmarshalText reads the hex form back, for tests and validators.
func (b *Blob) UnmarshalText(text []byte) error {
	var v Blob
	n, err := hex.Decode(v[:], text)
	if err != nil {
		return err
	}
	if n != len(v) {
		return hex.ErrLength
	}
	*b = v
	return nil
}

// Source yields the rows of an export. Scan calls fn for every row with
// q.Since < ID <= q.Rows, in ascending ID order, and stops at the first error
// fn returns or when ctx is done. The *Row passed to fn is reused: fn must
// copy what it keeps.
type Source interface {
	Scan(ctx context.Context, q Query, fn func(*Row) error) error
}

// names and notes are the text fields' values, shared with the seed
// targets in other languages (fixtures/rows.json).
var names, notes = fixtures.Rows.Names, fixtures.Rows.Notes

// Synthetic generates rows from their IDs alone: the same ID always gives the
// same row, so any two exports can be compared byte for byte without storing
// data anywhere.
type Synthetic struct {
	pattern string // Payload is a window into it; MaxWidth plus room to slide.
}

// NewSynthetic builds the payload pattern once per server.
func NewSynthetic() *Synthetic {
	alphabet := fixtures.Rows.Alphabet
	b := make([]byte, fixtures.Rows.PatternLength)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x = splitmix(x)
		b[i] = alphabet[x%uint64(len(alphabet))]
	}
	return &Synthetic{pattern: string(b)}
}

// Fill sets r to row id with a width-byte payload. It does not allocate.
func (s *Synthetic) Fill(r *Row, id int64, width int) {
	u := uint64(id)
	r.ID = id
	r.Name = names[u%uint64(len(names))]
	r.Note = notes[(u*5+3)%uint64(len(notes))] // 5 is coprime with 16: every note within 16 rows
	binary.BigEndian.PutUint64(r.Blob[:8], splitmix(u))
	binary.BigEndian.PutUint64(r.Blob[8:], splitmix(^u))
	off := int(splitmix(u+1) % uint64(len(s.pattern)-width+1))
	r.Payload = s.pattern[off : off+width]
}

// Scan implements Source.
func (s *Synthetic) Scan(ctx context.Context, q Query, fn func(*Row) error) error {
	var r Row
	for id := q.Since + 1; id <= q.Rows; id++ {
		if id&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s.Fill(&r, id, q.Width)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// splitmix is SplitMix64's finaliser: a cheap, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
