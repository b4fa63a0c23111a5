package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/targets"
	"github.com/floodharness/harness/targets/sqlite"
)

// DefaultFixtureDB is where `harness fixtures sqlite` writes when not told:
// the fixtures folder, the home of what floods read (generated files there
// are not committed).
const DefaultFixtureDB = "fixtures/rows.db"

func fixturesCmd() *cli.Command {
	fs := flag.NewFlagSet("fixtures", flag.ContinueOnError)
	return &cli.Command{
		FS:       fs,
		Usage:    "write test data: fixtures sqlite [--rows N] [--width W] [--out PATH] (default: fixtures/rows.db, what seeds-datasette.yaml reads)",
		Operands: "sqlite [--rows N] [--width W] [--out PATH]",
		Run:      writeFixtures,
		Nested:   true,
	}
}

// writeFixtures reads the kind of fixture first, then that kind's flags:
// `harness fixtures sqlite --rows N --width W --out PATH`.
func writeFixtures(e *cli.Env, args []string) error {
	if len(args) == 0 || args[0] != "sqlite" {
		return cli.UsageErrorf("want: harness fixtures sqlite [--rows N] [--width W] [--out PATH]")
	}
	fs := flag.NewFlagSet("fixtures sqlite", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	rows := fs.Int64("rows", 20000, "rows to write")
	width := fs.Int("width", 1000, "payload bytes per row")
	out := fs.String("out", DefaultFixtureDB, "database file to create (replaced if it exists)")
	if err := fs.Parse(args[1:]); err != nil {
		return cli.UsageErrorf("fixtures sqlite: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return cli.UsageErrorf("fixtures sqlite: unexpected arguments %q", fs.Args())
	case *out == "":
		return cli.UsageErrorf("fixtures sqlite: --out PATH must not be empty")
	case *rows < 0 || *rows > targets.MaxRows || *width < 0 || *width > targets.MaxWidth:
		return cli.UsageErrorf("fixtures sqlite: --rows %d / --width %d out of range (rows ≤ %d, width ≤ %d)", *rows, *width, int64(targets.MaxRows), targets.MaxWidth)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := sqlite.Write(*out, *rows, *width); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s: %d rows of %d-byte payloads\n", *out, *rows, *width)
	return nil
}
