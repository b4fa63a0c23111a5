// Package servecmd is the `serve` command, offered by both harness and
// the lean harness-serve: its flags, mapped to a targets.Config, and the
// reference server run until SIGINT or SIGTERM. It links the reference
// servers and nothing of the harness's measuring or reporting.
package servecmd

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/targets"
)

// serveFlags are `serve`'s flags.
type serveFlags struct {
	cfg    targets.Config
	source string
	db     string
	addr   string
	port   int
	grace  time.Duration
	// cert and key make it serve HTTPS (and HTTP/2 by ALPN); h2c serves
	// cleartext HTTP/2 with prior knowledge.
	cert, key string
	h2c       bool
	reusePort bool
}

// SQLiteSource is a fixture database the server reads rows from.
type SQLiteSource interface {
	targets.Source
	Width() int
	Close() error
}

// OpenSQLite opens a fixture database for --source sqlite.
type OpenSQLite func(path string) (SQLiteSource, error)

// Command is `serve`: run a reference server until SIGINT or SIGTERM. A
// binary that links no SQLite passes a nil open; --source sqlite then runs
// `harness serve` from beside it with the same arguments.
func Command(open OpenSQLite) *cli.Command {
	o := serveFlags{cfg: targets.DefaultConfig()}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.cfg.Impl, "impl", o.cfg.Impl, "how the export is built: "+strings.Join(targets.Impls(), "|"))
	fs.StringVar(&o.cfg.Format, "format", o.cfg.Format, "default wire format: "+strings.Join(targets.Formats(), "|"))
	fs.StringVar(&o.cfg.Admission, "admission", o.cfg.Admission,
		"byte-budget admission: none|held|early-release (KNOWN BAD: releases before the body is streamed)|reject")
	fs.Var(&o.cfg.Budget, "budget", "admission budget (e.g. 64MiB)")
	fs.StringVar(&o.cfg.Compress, "compress", "none", "compress answers where the request accepts it: "+strings.Join(targets.Compressions(), "|")+" (buffered: the whole body at once; streamed: a compressor per response)")
	fs.IntVar(&o.cfg.Batch, "batch", o.cfg.Batch, "rows per chunk for --impl batched")
	fs.Var(&o.cfg.Chunk, "chunk", "flush threshold for --impl streamed (e.g. 32KiB)")
	fs.IntVar(&o.cfg.Width, "width", o.cfg.Width, "default payload bytes per row")
	fs.Int64Var(&o.cfg.Rows, "rows", o.cfg.Rows, "default rows per export")
	fs.Var(&o.cfg.LeakBytes, "leak-bytes", "LEAK KNOB, off by default: keep this many bytes per request forever")
	fs.Var(&o.cfg.RetainBytes, "retain-bytes", "REGRESSION KNOB, off by default: keep this many extra bytes per request until its response ends")
	fs.StringVar(&o.source, "source", "synthetic", "where rows come from: synthetic|sqlite")
	fs.StringVar(&o.db, "db", "", "the database for --source sqlite (harness fixtures sqlite writes one)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1", "address to bind")
	fs.IntVar(&o.port, "port", 0, "port to bind; 0 picks a free one")
	fs.DurationVar(&o.grace, "grace", 5*time.Second, "how long requests in flight may finish after SIGTERM")
	fs.StringVar(&o.cert, "cert", "", "with --key: serve HTTPS (HTTP/2 by ALPN, HTTP/1.1 beside it) with this PEM certificate")
	fs.StringVar(&o.key, "key", "", "the PEM private key of --cert")
	fs.BoolVar(&o.h2c, "h2c", false, "serve cleartext HTTP/2 with prior knowledge beside HTTP/1.1")
	fs.BoolVar(&o.reusePort, "reuseport", false, "listen with SO_REUSEPORT: several servers on one port share its connections (past one process's open files)")
	return &cli.Command{
		FS:    fs,
		Usage: "run a reference server (buffered, streamed or batched export)",
		Run:   func(e *cli.Env, args []string) error { return serve(e, o, open, args) },
	}
}

func serve(e *cli.Env, o serveFlags, open OpenSQLite, args []string) error {
	if len(args) > 0 {
		return cli.UsageErrorf("unexpected arguments %q", args)
	}
	switch o.source {
	case "synthetic":
	case "sqlite":
		if o.db == "" {
			return cli.UsageErrorf("--source sqlite needs --db PATH")
		}
		if open == nil {
			return cli.ExecSibling(e, "harness", "serve")
		}
		src, err := open(o.db)
		if err != nil {
			return cli.UsageErrorf("%w", err)
		}
		defer src.Close()
		o.cfg.Source, o.cfg.Width = src, src.Width()
	default:
		return cli.UsageErrorf("--source %q: want synthetic or sqlite", o.source)
	}
	if o.port < 0 || o.port > 65535 {
		return cli.UsageErrorf("--port %d: want 0..65535", o.port)
	}
	srv, err := targets.New(o.cfg)
	if err != nil {
		return cli.UsageErrorf("%w", err)
	}
	so := targets.ServeOptions{Grace: o.grace, H2C: o.h2c}
	if (o.cert == "") != (o.key == "") || o.cert != "" && o.h2c {
		return cli.UsageErrorf("--cert and --key go together, and not with --h2c")
	}
	if o.cert != "" {
		pair, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return cli.UsageErrorf("--cert/--key: %w", err)
		}
		so.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	lc := net.ListenConfig{}
	if o.reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(e.Ctx, "tcp", net.JoinHostPort(o.addr, strconv.Itoa(o.port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The first stdout line is the contract with whoever started us.
	fmt.Fprintf(e.Stdout, "listening %s\n", ln.Addr())
	return srv.Serve(e.Ctx, ln, so)
}
