// Package units parses and prints the quantities people type into flags and
// scenario files: byte sizes such as "64MiB". It owns the spelling only; it
// never decides what a size is for.
package units
