// Package request holds the rules of what a request sends that a scenario
// file and the command line share: the methods a request may use, at most
// one body, GET by default and POST with a body, and curl's flags that say
// them. It never sends anything.
package request

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Methods are the HTTP methods a request may use.
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// CheckMethod says why method (upper case, "" for the default) is not one
// a request may use.
func CheckMethod(method string) error {
	if method != "" && !slices.Contains(Methods, method) {
		return fmt.Errorf("want one of %s, got %q", strings.Join(Methods, ", "), method)
	}
	return nil
}

// ErrBodies is the one rule on bodies: a request sends at most one.
var ErrBodies = errors.New("give at most one of body, body_file and body_size")

// Bodies counts the bodies a request was given (body, body file, body
// size), and says ErrBodies when more than one.
func Bodies(given ...bool) (int, error) {
	n := 0
	for _, g := range given {
		if g {
			n++
		}
	}
	if n > 1 {
		return n, ErrBodies
	}
	return n, nil
}

// Method is the method a request uses: its own, or GET, or POST when it
// sends a body.
func Method(method string, hasBody bool) string {
	switch {
	case method != "":
		return method
	case hasBody:
		return http.MethodPost
	}
	return http.MethodGet
}

// CheckBodyMethod says why method cannot send a body.
func CheckBodyMethod(method string) error {
	if method == http.MethodGet || method == http.MethodHead {
		return fmt.Errorf("%s sends no body: give method POST, PUT or PATCH with a body", method)
	}
	return nil
}
