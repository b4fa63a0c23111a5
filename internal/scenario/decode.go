package scenario

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"gopkg.in/yaml.v3"
)

// Error is one problem in a scenario file, at a line, under a key path such
// as "targets[1].command".
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
	// Flag is the command-line flag that set Key, when one did: the
	// problem is then the flag's, not the file's.
	Flag string
}

func (e *Error) Error() string {
	if e.Flag != "" {
		return fmt.Sprintf("%s (%s): %s", e.Flag, e.Key, e.Msg)
	}
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

// FaultKind makes every scenario problem bad input.
func (e *Error) FaultKind() fault.Kind { return fault.BadInput }

// decoder walks a YAML node tree into Go values strictly: every mapping key
// must name a field, and each problem is recorded with its line and path
// rather than stopping at the first.
type decoder struct {
	file  string
	errs  []error
	lines map[string]int  // key path → line, for Validate's messages
	bad   map[string]bool // key paths that failed to decode
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	d.bad[key] = true
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	unmarshaler  = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
	shorthand    = reflect.TypeFor[interface{ FromScalar(string) error }]()
)

// decode fills v (a pointer's element) from n; path names n for messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line // list items; a mapping key already gave its own line
	}
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case v.Type() == durationType:
		d.scalar(n, path, "a duration such as 10s or 250ms", func(s string) error {
			t, err := time.ParseDuration(s)
			if err == nil && t < 0 {
				err = errors.New("negative")
			}
			v.SetInt(int64(t))
			return err
		})
	case reflect.PointerTo(v.Type()).Implements(unmarshaler):
		d.scalar(n, path, "a value", func(s string) error {
			return v.Addr().Interface().(interface{ UnmarshalText([]byte) error }).UnmarshalText([]byte(s))
		})
	case v.Kind() == reflect.Struct && n.Kind == yaml.SequenceNode && listField(v).IsValid():
		// A struct that also reads as a list: requests: [{…}, {…}].
		d.decode(n, listField(v), path)
	case v.Kind() == reflect.Struct && n.Kind == yaml.ScalarNode && reflect.PointerTo(v.Type()).Implements(shorthand):
		// A struct that also reads as one word: k6: bin/k6.
		d.scalar(n, path, "a value", v.Addr().Interface().(interface{ FromScalar(string) error }).FromScalar)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	default:
		// Scalars, lists of scalars and maps of strings: yaml.v3 checks types.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "want %s, got %s", kindName(v.Type()), describe(n))
		}
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string, set func(string) error) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return
	}
	if err := set(n.Value); err != nil {
		d.fail(n, path, "%q: %v", n.Value, err)
	}
}

// mapping decodes a YAML mapping into struct v, by the fields' yaml tags.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	// A struct may ask for its own line with an untagged `Line int` field.
	if f := v.FieldByName("Line"); f.IsValid() && f.Kind() == reflect.Int && f.CanSet() {
		f.SetInt(int64(n.Line))
	}
	fields := map[string][]int{}
	var collect func(t reflect.Type, at []int)
	collect = func(t reflect.Type, at []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opt, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			idx := append(slices.Clone(at), i)
			switch {
			case opt == "inline" && f.Type.Kind() == reflect.Struct:
				collect(f.Type, idx) // its keys are this mapping's
			case name != "" && name != "-":
				fields[name] = idx
			}
		}
	}
	collect(v.Type(), nil)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		idx, ok := fields[k.Value]
		switch {
		case !ok:
			d.fail(k, key, "unknown key (want one of %s)", strings.Join(sortedKeys(fields), ", "))
		case seen[k.Value]:
			d.fail(k, key, "given twice")
		default:
			seen[k.Value] = true
			d.lines[key] = k.Line
			d.decode(val, v.FieldByIndex(idx), key)
		}
	}
}

// listField is the field of struct v tagged `yaml:",list"`: what the
// struct holds when the YAML gives a list instead of its usual form.
func listField(v reflect.Value) reflect.Value {
	for i := range v.NumField() {
		if _, opt, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ","); opt == "list" {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		elem := kindName(t.Elem())
		elem = strings.TrimPrefix(strings.TrimPrefix(elem, "an "), "a ")
		return "a list of " + elem + "s"
	case reflect.Map:
		return "a mapping of strings"
	}
	return t.String()
}
