package targets

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Format is one wire format of the export. The Append methods are the
// streamed path: they add to a caller's buffer and never allocate. Marshal is
// the buffered path and uses the standard library on purpose, the way the
// services this tool reproduces did (json.dumps of every row); both paths
// produce the same bytes, which the tests check.
type Format interface {
	Name() string
	ContentType() string
	AppendHeader(dst []byte) []byte
	// AppendRow adds one row; first is true for the export's first row.
	AppendRow(dst []byte, r *Row, first bool) []byte
	AppendTrailer(dst []byte) []byte
	// AppendError adds an error record that keeps the body well-formed:
	// {"error": msg, "last_id": id} as a JSON element or NDJSON line; in CSV
	// a record whose id column is the word "error", the message in the
	// name column and the last id in the note column.
	AppendError(dst []byte, msg string, lastID int64, first bool) []byte
	Marshal(rows []Row) ([]byte, error)
}

func appendJSONError(dst []byte, msg string, lastID int64) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendJSONString(dst, msg)
	dst = append(dst, `,"last_id":`...)
	dst = strconv.AppendInt(dst, lastID, 10)
	return append(dst, '}')
}

// Formats lists the format names FormatFor accepts.
func Formats() []string { return []string{"json", "ndjson", "csv"} }

// FormatFor returns the named format.
func FormatFor(name string) (Format, error) {
	switch name {
	case "json":
		return jsonArray{}, nil
	case "ndjson":
		return ndjson{}, nil
	case "csv":
		return csvTable{}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want json, ndjson or csv)", name)
}

// jsonArray is one JSON array of row objects, valid JSON even when streamed.
type jsonArray struct{}

func (jsonArray) Name() string                    { return "json" }
func (jsonArray) ContentType() string             { return "application/json" }
func (jsonArray) AppendHeader(dst []byte) []byte  { return append(dst, '[') }
func (jsonArray) AppendTrailer(dst []byte) []byte { return append(dst, ']') }

func (jsonArray) AppendRow(dst []byte, r *Row, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	return appendJSONRow(dst, r)
}

func (jsonArray) AppendError(dst []byte, msg string, lastID int64, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	return appendJSONError(dst, msg, lastID)
}

func (jsonArray) Marshal(rows []Row) ([]byte, error) {
	if rows == nil {
		rows = []Row{} // "[]", not "null"
	}
	return json.Marshal(rows)
}

// ndjson is one JSON object per line.
type ndjson struct{}

func (ndjson) Name() string                    { return "ndjson" }
func (ndjson) ContentType() string             { return "application/x-ndjson" }
func (ndjson) AppendHeader(dst []byte) []byte  { return dst }
func (ndjson) AppendTrailer(dst []byte) []byte { return dst }

func (ndjson) AppendRow(dst []byte, r *Row, _ bool) []byte {
	return append(appendJSONRow(dst, r), '\n')
}

func (ndjson) AppendError(dst []byte, msg string, lastID int64, _ bool) []byte {
	return append(appendJSONError(dst, msg, lastID), '\n')
}

func (ndjson) Marshal(rows []Row) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode ends each value with '\n'
	for i := range rows {
		if err := enc.Encode(&rows[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// csvTable is RFC 4180 CSV with a header line and CRLF line ends.
type csvTable struct{}

var csvHeader = []string{"id", "name", "note", "blob", "payload"}

func (csvTable) Name() string                    { return "csv" }
func (csvTable) ContentType() string             { return "text/csv; charset=utf-8" }
func (csvTable) AppendTrailer(dst []byte) []byte { return dst }

func (csvTable) AppendHeader(dst []byte) []byte {
	return append(dst, "id,name,note,blob,payload\r\n"...)
}

func (csvTable) AppendRow(dst []byte, r *Row, _ bool) []byte {
	dst = strconv.AppendInt(dst, r.ID, 10)
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.Name)
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.Note)
	dst = append(dst, ',')
	dst = hex.AppendEncode(dst, r.Blob[:])
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.Payload)
	return append(dst, '\r', '\n')
}

func (csvTable) AppendError(dst []byte, msg string, lastID int64, _ bool) []byte {
	dst = append(dst, "error,"...)
	dst = appendCSVField(dst, msg)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, lastID, 10)
	return append(dst, ",,\r\n"...)
}

func (csvTable) Marshal(rows []Row) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.Write(csvHeader); err != nil {
		return nil, err
	}
	for i := range rows {
		r := &rows[i]
		rec := []string{strconv.FormatInt(r.ID, 10), r.Name, r.Note, hex.EncodeToString(r.Blob[:]), r.Payload}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// appendJSONRow writes r exactly as encoding/json would marshal it.
func appendJSONRow(dst []byte, r *Row) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, r.ID, 10)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, r.Name)
	dst = append(dst, `,"note":`...)
	dst = appendJSONString(dst, r.Note)
	dst = append(dst, `,"blob":"`...)
	dst = hex.AppendEncode(dst, r.Blob[:])
	dst = append(dst, `","payload":`...)
	dst = appendJSONString(dst, r.Payload)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s the way encoding/json does with HTML escaping
// on (its default): <, >, & and control bytes as \u00XX, invalid UTF-8 as
// \ufffd, and U+2028/U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCSVField writes one field as encoding/csv's Writer does with
// UseCRLF: quoted when it holds a comma, quote, CR or LF, starts with a
// space, or is `\.`; quotes doubled, LF written as CRLF and a lone CR dropped.
func appendCSVField(dst []byte, s string) []byte {
	if !csvNeedsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			dst = append(dst, '"', '"')
		case '\r':
		case '\n':
			dst = append(dst, '\r', '\n')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\n' || c == '\r' || c == '"' || c == ',' {
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}
