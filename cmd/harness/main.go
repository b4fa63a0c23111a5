// Command harness floods servers with large responses and measures their
// memory. Each subcommand lives in its own file; this one only builds the
// environment, dispatches, and turns errors into exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
)

// Exit codes, as documented in the README.
const (
	exitOK         = 0
	exitRegression = 1
	exitUsage      = 2
	exitRunFailed  = 3
)

// env is everything a command may touch outside its arguments, so tests can
// run commands in-process with their own streams and environment.
type env struct {
	ctx    context.Context // done on SIGINT/SIGTERM
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	isTTY  bool // stderr is a terminal: show a live progress line

	mu            sync.Mutex // progress comes from the flood's goroutine
	progressShown bool
}

// showProgress replaces the live status line on a terminal.
func (e *env) showProgress(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.stderr, "\r\033[K%s", line)
	e.progressShown = true
}

// logLine writes one plain line to stderr, over the status line if shown.
func (e *env) logLine(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearProgressLocked()
	fmt.Fprintln(e.stderr, line)
}

// clearProgress removes the status line.
func (e *env) clearProgress() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearProgressLocked()
}

func (e *env) clearProgressLocked() {
	if e.progressShown {
		fmt.Fprint(e.stderr, "\r\033[K")
		e.progressShown = false
	}
}

type command struct {
	fs    *flag.FlagSet
	usage string // one line for the command list
	fn    func(e *env, args []string) error
	// nested: the first operand names a kind with its own flags, so flag
	// parsing stops there instead of reading flags among the operands.
	nested bool
}

// commands lists the subcommands that exist; one file each.
func commands(e *env) map[string]*command {
	return map[string]*command{
		"fixtures": fixturesCmd(e),
		"gate":     gateCmd(e),
		"load":     loadCmd(e),
		"report":   reportCmd(e),
		"run":      runCmd(e),
		"serve":    serveCmd(e),
	}
}

// exitCoder is implemented by errors that decide the process's exit code.
type exitCoder interface{ ExitCode() int }

// codeError attaches an exit code to an error.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }
func (e *codeError) ExitCode() int { return e.code }

func usageErrorf(format string, args ...any) error {
	return &codeError{exitUsage, fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{ctx: ctx, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, isTTY: isTerminal(os.Stderr)}
	code := run(e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit code.
func run(e *env, args []string) int {
	cmds := commands(e)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stderr, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "harness: unknown command %q\n", args[0])
		printUsage(e.stderr, cmds)
		return exitUsage
	}
	cmd.fs.SetOutput(e.stderr)
	var operands []string
	var err error
	if cmd.nested {
		err = cmd.fs.Parse(args[1:])
		operands = cmd.fs.Args()
	} else {
		operands, err = parseArgs(cmd.fs, args[1:])
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	err = cmd.fn(e, operands)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "harness %s: %v\n", args[0], err)
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitRunFailed
}

// parseArgs parses flags wherever they stand among the operands, as in
// `harness report RESULTS.json --out DIR`; everything after "--" is an
// operand.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(operands, rest...), nil
		}
		if len(rest) == 0 {
			return operands, nil
		}
		operands, args = append(operands, rest[0]), rest[1:]
	}
}

func printUsage(w io.Writer, cmds map[string]*command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: harness <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].usage)
	}
	fmt.Fprintln(w, "\nRun 'harness <command> -h' for a command's flags.")
}
