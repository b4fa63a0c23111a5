package validate

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/floodharness/harness/internal/result"
)

type jstate uint8

const (
	jTop        jstate = iota // before a top-level value (ndjson: between them)
	jDone                     // json: after the one top-level value
	jValue                    // a value must come
	jValueOrEnd               // after '[': a value or ']'
	jKeyOrEnd                 // after '{': a key or '}'
	jKey                      // after ',' in an object
	jColon
	jCommaOrEnd
	jString
	jEscape
	jUnicode
	jNumber
	jLiteral
)

// jsonChecker checks any JSON text (RFC 8259) byte by byte, in constant
// memory whatever the body's size (its depth aside). The rows are the
// elements of one array — the one at a path the scenario names, else the
// first array of the body not inside another (the body itself when it is
// an array) — or, for NDJSON, the top-level values themselves, one a line
// or simply concatenated. A row that is an object whose first key is
// "error" is an error record; one whose first key is "id" gives the row's
// id.
type jsonChecker struct {
	ndjson bool
	path   [][]byte // the rows array's path; nil: the first array not inside another
	st     jstate
	stack  []byte // the open containers, '{' or '['
	// onPath[k] says container k lies on path (its path is path[:k]); idx
	// is each open array's current element.
	onPath []bool
	idx    []int
	arrays int // arrays open (for the default rows array)
	// rowDepth is the stack depth of the rows (the rows array's depth + 1)
	// once it is found, -1 before, and rowsShut once it has closed.
	rowDepth int
	rowsShut bool

	isKey      bool
	lit        string
	litPos     int
	hexLeft    int
	rows       int64
	errRecords int64
	capture    bool   // capturing a key: a record's first, or one on path
	key        []byte // the key captured (its raw bytes, up to keyMax)
	keyMax     int
	pathKey    []byte // the last key of the on-path object on top, when captured
	record     bool   // the current record's first key is being captured
	isError    bool   // the current record's first key is "error"
	isIDKey    bool   // the current record's first key is "id": its value is the row id
	numCapture bool   // reading that value
	num        numState
	id         int64
	bad        string
	off        int64 // bytes before the current Write
	tail       []byte
	ids
}

func newJSON(ndjson bool, rows string, d ids) *jsonChecker {
	j := &jsonChecker{ndjson: ndjson, rowDepth: -1, keyMax: len("error") + 1, ids: d}
	if ndjson {
		j.rowDepth = 0
	}
	if rows != "" {
		for _, seg := range strings.Split(rows, ".") {
			j.path = append(j.path, []byte(seg))
			j.keyMax = max(j.keyMax, len(seg)+1)
		}
	}
	return j
}

// fail records the first problem: at which byte of the body, what was
// wanted there, and the bytes around it.
func (j *jsonChecker) fail(p []byte, i int, format string, args ...any) {
	if j.bad == "" {
		j.bad = fmt.Sprintf("byte %d: %s near %s", j.off+int64(i), fmt.Sprintf(format, args...), excerpt(j.tail, p, i))
	}
}

// excerpt is a few bytes before p[i] (from the last Write's tail too),
// p[i] in brackets, and a few after, quoted with control bytes escaped.
func excerpt(tail, p []byte, i int) string {
	const around = 16
	var b []byte
	if i < around {
		b = append(b, tail[max(0, len(tail)-(around-i)):]...)
	}
	b = append(b, p[max(0, i-around):i]...)
	s := strconv.Quote(string(b))
	if i < len(p) {
		s += "[" + strings.Trim(strconv.Quote(string(p[i:i+1])), `"`) + "]" + strconv.Quote(string(p[i+1:min(len(p), i+1+around)]))
	}
	return s
}

func (j *jsonChecker) Write(p []byte) {
	if j.bad == "" {
		j.write(p)
	}
	j.off += int64(len(p))
	j.tail = append(j.tail, p[max(0, len(p)-16):]...)
	if n := len(j.tail); n > 16 {
		j.tail = append(j.tail[:0], j.tail[n-16:]...)
	}
}

func (j *jsonChecker) write(p []byte) {
	for i := 0; i < len(p) && j.bad == ""; i++ {
		c := p[i]
		switch j.st {
		case jString:
			// Fast path: jump to the next quote or backslash (both SIMD
			// searches), checking the bytes skipped for control bytes.
			seg := p[i:]
			if q := bytes.IndexByte(seg, '"'); q >= 0 {
				seg = seg[:q]
			}
			if e := bytes.IndexByte(seg, '\\'); e >= 0 {
				seg = seg[:e]
			}
			if k := firstControl(seg); k >= 0 {
				j.fail(p, i+k, "a control byte inside a string")
				return
			}
			j.keep(seg)
			i += len(seg)
			if i == len(p) {
				return
			}
			if p[i] == '"' {
				j.endString()
			} else {
				j.st = jEscape
				if j.capture && j.isKey && len(j.key) < j.keyMax {
					j.key = append(j.key, 0) // an escaped key matches no name
				}
			}
		case jEscape:
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j.st = jString
			case 'u':
				j.st, j.hexLeft = jUnicode, 4
			default:
				j.fail(p, i, "want an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
			}
		case jUnicode:
			if !isHex(c) {
				j.fail(p, i, "want a hex digit of a \\u escape")
			}
			if j.hexLeft--; j.hexLeft == 0 {
				j.st = jString
			}
		case jNumber:
			if c >= '0' && c <= '9' && j.num == nInt && j.numCapture {
				j.id = j.id*10 + int64(c-'0')
			}
			next, ok := j.num.next(c)
			switch {
			case ok:
				j.num = next
			case j.num.complete():
				j.valueDone()
				i-- // this byte belongs to what follows the number
			default:
				j.fail(p, i, "want a digit of a number")
			}
		case jLiteral:
			if c != j.lit[j.litPos] {
				j.fail(p, i, "want %q of %s", j.lit[j.litPos], j.lit)
			} else if j.litPos++; j.litPos == len(j.lit) {
				j.valueDone()
			}
		default:
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			}
			j.structural(p, i)
		}
	}
}

// keep captures a key's bytes, up to one more than any name it is
// compared with.
func (j *jsonChecker) keep(b []byte) {
	if j.capture && j.isKey && len(j.key) < j.keyMax {
		j.key = append(j.key, b[:min(len(b), j.keyMax-len(j.key))]...)
	}
}

func (j *jsonChecker) endString() {
	if !j.isKey {
		j.valueDone()
		return
	}
	if j.capture {
		if j.record {
			j.isError = string(j.key) == "error"
			j.isIDKey = string(j.key) == "id"
			j.record = false
		} else {
			j.pathKey = append(j.pathKey[:0], j.key...)
		}
		j.capture = false
	}
	j.st = jColon
}

// structural handles a non-space byte outside strings, numbers and
// literals.
func (j *jsonChecker) structural(p []byte, i int) {
	c := p[i]
	top := byte(0)
	if len(j.stack) > 0 {
		top = j.stack[len(j.stack)-1]
	}
	switch j.st {
	case jDone:
		j.fail(p, i, "want the end of the body after its JSON value, got %q", c)
	case jTop, jValue:
		j.startValue(p, i)
	case jValueOrEnd:
		if c == ']' {
			j.pop()
		} else {
			j.startValue(p, i)
		}
	case jKeyOrEnd, jKey:
		switch {
		case c == '"':
			j.st, j.isKey = jString, true
			// Keys of an object on the rows' path are read to follow it.
			if k := len(j.stack) - 1; j.path != nil && !j.record && j.onPath[k] && k < len(j.path) {
				j.capture, j.key = true, j.key[:0]
			}
		case c == '}' && j.st == jKeyOrEnd:
			j.pop()
		default:
			j.fail(p, i, "want an object key (a string), got %q", c)
		}
	case jColon:
		if c != ':' {
			j.fail(p, i, "want ':' after an object key, got %q", c)
		}
		j.st = jValue
	case jCommaOrEnd:
		switch {
		case c == ',' && top == '{':
			j.st = jKey
		case c == ',':
			j.st = jValue
		case c == '}' && top == '{', c == ']' && top == '[':
			j.pop()
		default:
			want := "','  or '}'"
			if top == '[' {
				want = "',' or ']'"
			}
			j.fail(p, i, "want %s, got %q", want, c)
		}
	}
}

// onPathNext says whether the value starting now lies on the rows' path.
func (j *jsonChecker) onPathNext() bool {
	k := len(j.stack) - 1
	if k < 0 {
		return true // the body's value: the empty path
	}
	if !j.onPath[k] || k >= len(j.path) {
		return false
	}
	if j.stack[k] == '[' {
		return string(j.path[k]) == strconv.Itoa(j.idx[k])
	}
	return bytes.Equal(j.pathKey, j.path[k])
}

func (j *jsonChecker) startValue(p []byte, i int) {
	c := p[i]
	depth := len(j.stack)
	if j.path != nil && depth > 0 && j.stack[depth-1] == '[' {
		j.idx[depth-1]++
	}
	if depth == j.rowDepth && !j.rowsShut {
		j.record, j.isError, j.isIDKey = c == '{', false, false
		j.capture, j.key = j.record, j.key[:0]
	}
	switch {
	case c == '{', c == '[':
		on := j.path != nil && j.onPathNext()
		if c == '[' && j.rowDepth < 0 && (j.path == nil && j.arrays == 0 || j.path != nil && on && depth == len(j.path)) {
			j.rowDepth = depth + 1 // the rows array
		}
		j.stack = append(j.stack, c)
		if j.path != nil { // followed only to find the rows
			j.onPath, j.idx = append(j.onPath, on), append(j.idx, -1)
		}
		if c == '[' {
			j.arrays++
			j.st = jValueOrEnd
		} else {
			j.st = jKeyOrEnd
		}
	case c == '"':
		j.st, j.isKey = jString, false
	case c == '-' || (c >= '0' && c <= '9'):
		j.st, j.num = jNumber, nStart
		j.num, _ = j.num.next(c)
		if j.isIDKey && depth == j.rowDepth+1 {
			// A row id: digits of a non-negative integer; anything else
			// (a sign, a fraction) makes it no id, and the id check says so.
			j.numCapture, j.id = true, int64(c-'0')
			if c == '-' || c == '0' {
				j.id = -1
			}
		}
	case c == 't':
		j.st, j.lit, j.litPos = jLiteral, "true", 1
	case c == 'f':
		j.st, j.lit, j.litPos = jLiteral, "false", 1
	case c == 'n':
		j.st, j.lit, j.litPos = jLiteral, "null", 1
	default:
		j.fail(p, i, "want a JSON value, got %q", c)
	}
}

// numState walks RFC 8259's number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
type numState uint8

const (
	nStart     numState = iota
	nMinus              // after '-': a digit must come
	nZero               // a leading 0: no more integer digits
	nInt                // integer digits
	nDot                // after '.': a digit must come
	nFrac               // fraction digits
	nExp                // after 'e': a sign or digit must come
	nExpSign            // after the exponent's sign: a digit must come
	nExpDigits          // exponent digits
)

// next is the state after byte c, or false if c cannot continue the number.
func (n numState) next(c byte) (numState, bool) {
	digit := c >= '0' && c <= '9'
	switch {
	case n == nStart && c == '-':
		return nMinus, true
	case (n == nStart || n == nMinus) && c == '0':
		return nZero, true
	case (n == nStart || n == nMinus || n == nInt) && digit:
		return nInt, true
	case (n == nZero || n == nInt) && c == '.':
		return nDot, true
	case (n == nDot || n == nFrac) && digit:
		return nFrac, true
	case (n == nZero || n == nInt || n == nFrac) && (c == 'e' || c == 'E'):
		return nExp, true
	case n == nExp && (c == '+' || c == '-'):
		return nExpSign, true
	case (n == nExp || n == nExpSign || n == nExpDigits) && digit:
		return nExpDigits, true
	}
	return n, false
}

// complete reports whether the number may end here.
func (n numState) complete() bool {
	return n == nZero || n == nInt || n == nFrac || n == nExpDigits
}

func (j *jsonChecker) pop() {
	k := len(j.stack) - 1
	if j.stack[k] == '[' {
		j.arrays--
	}
	if k+1 == j.rowDepth && !j.ndjson {
		j.rowsShut = true // the rows array closed: no rows after it
	}
	j.stack = j.stack[:k]
	if j.path != nil {
		j.onPath, j.idx = j.onPath[:k], j.idx[:k]
	}
	j.valueDone()
}

func (j *jsonChecker) valueDone() {
	if j.numCapture {
		j.numCapture, j.isIDKey = false, false
	}
	if len(j.stack) == j.rowDepth && !j.rowsShut {
		if j.isError {
			j.errRecords++
		} else {
			j.rows++
			j.next(j.id)
		}
		j.isIDKey, j.isError, j.id = false, false, 0
	}
	switch {
	case len(j.stack) > 0:
		j.st = jCommaOrEnd
	case j.ndjson:
		j.st = jTop
	default:
		j.st = jDone
	}
}

func (j *jsonChecker) Rows() int64 { return j.rows }

func (j *jsonChecker) Finish() (string, int64, string) {
	if j.bad == "" && j.st == jNumber && j.num.complete() {
		j.valueDone() // a number ends with the body
	}
	switch {
	case j.bad != "":
		return result.OutcomeInvalid, j.rows, j.bad
	case j.gap != "":
		return result.OutcomeIDGap, j.rows, j.gap
	case !j.ndjson && j.st != jDone, j.ndjson && j.st != jTop:
		return result.OutcomeTruncated, j.rows, fmt.Sprintf("byte %d: the body ended inside a JSON value", j.off)
	case j.path != nil && j.rowDepth < 0 && !j.ndjson:
		return result.OutcomeInvalid, j.rows, fmt.Sprintf("no array at rows: %s in the body", bytes.Join(j.path, []byte(".")))
	case j.errRecords > 0:
		return result.OutcomeErrorRecord, j.rows, ""
	}
	return result.OutcomeOK, j.rows, ""
}
