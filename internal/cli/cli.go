package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"

	"github.com/floodharness/harness/internal/fault"
)

// Exit codes, as documented in the README. Code is the only place a
// failure's kind becomes one.
const (
	ExitOK         = 0
	ExitRegression = 1 // or, for harness doctor, no kernel cap here
	ExitUsage      = 2
	ExitRunFailed  = 3
)

// Code is the exit code for a command's error.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	switch fault.KindOf(err) {
	case fault.BadInput:
		return ExitUsage
	case fault.Regression, fault.Unmet:
		return ExitRegression
	}
	return ExitRunFailed
}

// Env is everything a command may touch outside its arguments, so tests
// run commands in-process with their own streams and environment.
type Env struct {
	Ctx    context.Context // done on SIGINT/SIGTERM
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads the environment (os.LookupEnv; a test gives its own).
	LookupEnv func(string) (string, bool)
	IsTTY     bool // Stderr is a terminal: show a live progress line
	// Args are the program's arguments as given (without its name), for a
	// command that hands them on to another binary.
	Args []string

	mu            sync.Mutex // progress comes from the flood's goroutine
	progressShown bool
}

// ShowProgress replaces the live status line on a terminal.
func (e *Env) ShowProgress(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.Stderr, "\r\033[K%s", line)
	e.progressShown = true
}

// LogLine writes one plain line to Stderr, over the status line if shown.
func (e *Env) LogLine(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearProgressLocked()
	fmt.Fprintln(e.Stderr, line)
}

// ClearProgress removes the status line.
func (e *Env) ClearProgress() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearProgressLocked()
}

func (e *Env) clearProgressLocked() {
	if e.progressShown {
		fmt.Fprint(e.Stderr, "\r\033[K")
		e.progressShown = false
	}
}

// Command is one subcommand: its flags, a line for the command list, and
// the function that maps the parsed flags to a package call.
type Command struct {
	FS    *flag.FlagSet
	Usage string
	// Operands are what follows the flags on the usage line, as
	// "SCENARIO.yaml" or "URL" ("" when the command takes none).
	Operands string
	Run      func(e *Env, args []string) error
	// Nested: the first operand names a kind with its own flags, so flag
	// parsing stops there instead of reading flags among the operands.
	Nested bool
}

// UsageErrorf is a usage mistake: bad input, exit 2.
func UsageErrorf(format string, args ...any) error {
	return fault.Errorf(fault.BadInput, format, args...)
}

// Main dispatches args (without the program name) to one of cmds and
// returns the exit code; prog names the program in messages.
func Main(e *Env, prog string, cmds map[string]*Command, args []string) int {
	if len(args) == 0 {
		printUsage(e.Stderr, prog, cmds)
		return ExitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.Stdout, prog, cmds) // asked for: it is the output
		return ExitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "%s: unknown command %q\n", prog, args[0])
		printUsage(e.Stderr, prog, cmds)
		return ExitUsage
	}
	return Exec(e, prog+" "+args[0], cmd, args[1:])
}

// Exec parses args for cmd, runs it and returns the exit code; name
// prefixes its error message.
func Exec(e *Env, name string, cmd *Command, args []string) int {
	cmd.FS.SetOutput(e.Stderr)
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		cmd.FS.SetOutput(e.Stdout) // asked for: it is the output
	}
	cmd.FS.Usage = func() {
		out := cmd.FS.Output()
		fmt.Fprintf(out, "usage: %s [flags] %s\n\n%s\n\nflags:\n", name, cmd.Operands, cmd.Usage)
		cmd.FS.PrintDefaults()
	}
	var operands []string
	var err error
	if cmd.Nested {
		err = cmd.FS.Parse(args)
		operands = cmd.FS.Args()
	} else {
		operands, err = ParseArgs(cmd.FS, args)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	err = cmd.Run(e, operands)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", name, err)
	}
	return Code(err)
}

// ParseArgs parses flags wherever they stand among the operands, as in
// `harness report RESULTS.json --out DIR`; everything after "--" is an
// operand.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
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

func printUsage(w io.Writer, prog string, cmds map[string]*Command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: %s <command> [flags]\n", prog)
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].Usage)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", prog)
}

// Lean is the main of a binary that offers one command: its flags are the
// program's arguments. Only mains call it; it exits.
func Lean(cmd *Command) {
	e, stop := SystemEnv()
	code := Exec(e, filepath.Base(os.Args[0]), cmd, os.Args[1:])
	stop()
	os.Exit(code)
}

// SystemEnv is the real environment: the process's streams, its
// environment variables, and a context done on SIGINT or SIGTERM (call
// stop to release the signals).
func SystemEnv() (e *Env, stop func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return &Env{Ctx: ctx, Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv, IsTTY: isTerminal(os.Stderr), Args: os.Args[1:]}, stop
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// InProcessEnv, set to 1, keeps `harness serve` and `harness load` in the
// harness process instead of running their lean binaries.
const InProcessEnv = "FLOOD_HARNESS_IN_PROCESS"

// Sibling is the path of the binary name beside this executable, and
// false when there is none.
func Sibling(name string) (string, bool) {
	self, err := os.Executable()
	if err != nil {
		return "", false
	}
	bin := filepath.Join(filepath.Dir(self), name)
	st, err := os.Stat(bin)
	return bin, err == nil && st.Mode().IsRegular()
}

// ExecSibling replaces this process by `name cmd e.Args...` from beside
// this executable, in process (InProcessEnv set), so the command runs in
// the binary that links what it needs. It returns only on failure.
func ExecSibling(e *Env, name, cmd string) error {
	bin, ok := Sibling(name)
	if !ok {
		return fault.Errorf(fault.BadInput, "this binary cannot %s this way, and no %s lies beside it", cmd, name)
	}
	env := append(os.Environ(), InProcessEnv+"=1")
	return fmt.Errorf("run %s %s: %w", bin, cmd, syscall.Exec(bin, append([]string{bin, cmd}, e.Args...), env))
}
