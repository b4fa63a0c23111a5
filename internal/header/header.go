// Package header reads and checks request headers as people write them:
// curl's 'Name: value', and ${NAME} references to the environment that
// keep secrets out of files. It never sends anything.
package header

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ref is ${NAME} in a header value: an environment variable's, or
// ${login.NAME}, what a client's login answered (a JSON field's dotted
// path or a cookie's name), filled in by each client for itself.
var ref = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*|login\.[A-Za-z0-9_.-]+)\}`)

// LoginPrefix starts a ${login.NAME} reference's NAME.
const LoginPrefix = "login."

// Parse reads 'Name: value' (curl's -H), and checks both parts.
func Parse(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q: want 'Name: value'", s)
	}
	return name, value, Check(name, value)
}

// Check says what is wrong with a header, if anything: a name that is
// not a token, a value holding a newline or a control character (it
// would end the header and start another), a malformed ${…}.
func Check(name, value string) error {
	if !validName(name) {
		return fmt.Errorf("header name %q: want a token (letters, digits, -)", name)
	}
	for _, c := range []byte(value) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("header %s: the value holds a newline or a control character", name)
		}
	}
	if strings.Contains(ref.ReplaceAllString(value, ""), "${") {
		return fmt.Errorf("header %s: want ${NAME} with NAME of letters, digits and _, in %q", name, value)
	}
	return nil
}

// validName: a token (RFC 9110 5.1).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Refs are the environment's ${NAME} references in value, each as written
// and its NAME (not ${login.NAME}: see LoginRefs).
func Refs(value string) [][2]string {
	var out [][2]string
	for _, m := range ref.FindAllStringSubmatch(value, -1) {
		if !strings.HasPrefix(m[1], LoginPrefix) {
			out = append(out, [2]string{m[0], m[1]})
		}
	}
	return out
}

// LoginRefs are the NAMEs of the ${login.NAME} references in value.
func LoginRefs(value string) []string {
	var out []string
	for _, m := range ref.FindAllStringSubmatch(value, -1) {
		if name, ok := strings.CutPrefix(m[1], LoginPrefix); ok {
			out = append(out, name)
		}
	}
	return out
}

// Expand replaces each environment ${NAME} in value with values[${NAME}];
// ${login.NAME} stays for the client to fill in.
func Expand(value string, values map[string]string) string {
	return ref.ReplaceAllStringFunc(value, func(r string) string {
		if strings.HasPrefix(r, "${"+LoginPrefix) {
			return r
		}
		return values[r]
	})
}

// ExpandLogin replaces each ${login.NAME} in value with values[NAME].
func ExpandLogin(value string, values map[string]string) string {
	return ref.ReplaceAllStringFunc(value, func(r string) string {
		if name, ok := strings.CutPrefix(r[2:len(r)-1], LoginPrefix); ok {
			return values[name]
		}
		return r
	})
}

// Lookup expands value from the environment: an unset NAME is an error.
func Lookup(value string, lookup func(string) (string, bool)) (string, error) {
	var errs []error
	out := ref.ReplaceAllStringFunc(value, func(r string) string {
		if strings.HasPrefix(r, "${"+LoginPrefix) {
			return r // the client's own, after its login
		}
		v, ok := lookup(r[2 : len(r)-1])
		if !ok {
			errs = append(errs, fmt.Errorf("%s is not set in the environment", r))
		}
		return v
	})
	return out, errors.Join(errs...)
}
