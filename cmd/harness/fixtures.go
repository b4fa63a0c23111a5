package main

import (
	"flag"
	"fmt"

	"github.com/floodharness/harness/targets"
)

func fixturesCmd(_ *env) *command {
	fs := flag.NewFlagSet("fixtures", flag.ContinueOnError)
	return &command{
		fs:     fs,
		usage:  "write test data: fixtures sqlite --rows N --width W --out PATH",
		fn:     writeFixtures,
		nested: true,
	}
}

// writeFixtures reads the kind of fixture first, then that kind's flags:
// `harness fixtures sqlite --rows N --width W --out PATH`.
func writeFixtures(e *env, args []string) error {
	if len(args) == 0 || args[0] != "sqlite" {
		return usageErrorf("want: harness fixtures sqlite --rows N --width W --out PATH")
	}
	fs := flag.NewFlagSet("fixtures sqlite", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	rows := fs.Int64("rows", 20000, "rows to write")
	width := fs.Int("width", 64, "payload bytes per row")
	out := fs.String("out", "", "database file to create (replaced if it exists)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErrorf("fixtures sqlite: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("fixtures sqlite: unexpected arguments %q", fs.Args())
	case *out == "":
		return usageErrorf("fixtures sqlite: --out PATH is required")
	case *rows < 0 || *rows > targets.MaxRows || *width < 0 || *width > targets.MaxWidth:
		return usageErrorf("fixtures sqlite: --rows %d / --width %d out of range (rows ≤ %d, width ≤ %d)", *rows, *width, int64(targets.MaxRows), targets.MaxWidth)
	}
	if err := targets.WriteSQLite(*out, *rows, *width); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d rows of %d-byte payloads\n", *out, *rows, *width)
	return nil
}
