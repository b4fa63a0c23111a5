// Package sqlite is the reference servers' SQLite row source: fixture
// databases holding the synthetic rows, read back in keyset pages. It is a
// package of its own so that only binaries that serve SQLite link the
// database engine.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/floodharness/harness/targets"
	_ "modernc.org/sqlite" // pure Go, no cgo
)

// DB serves rows from a database written by Write, reading them
// in keyset pages (WHERE id > ? ORDER BY id LIMIT page): memory per request
// stays bounded whatever the row count, and no transaction is held open
// for the whole stream, only for one page.
type DB struct {
	db    *sql.DB
	page  int
	width int
}

// sqlitePage is how many rows one keyset query reads.
const sqlitePage = 500

// Open opens a fixture database read-only.
func Open(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite source: %w (create it with: harness fixtures sqlite --out %s)", err, path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, fmt.Errorf("open sqlite source %s: %w", path, err)
	}
	var w string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'width'`).Scan(&w); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite source %s: not a fixture database: %w", path, err)
	}
	width, err := strconv.Atoi(w)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite source %s: width %q: %w", path, w, err)
	}
	return &DB{db: db, page: sqlitePage, width: width}, nil
}

// Width is the payload width the database holds.
func (s *DB) Width() int { return s.width }

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// Scan implements targets.Source.
func (s *DB) Scan(ctx context.Context, q targets.Query, fn func(*targets.Row) error) error {
	last := q.Since
	var (
		r    targets.Row
		blob []byte
	)
	for {
		rows, err := s.db.QueryContext(ctx,
			`SELECT id, name, note, blob, payload FROM rows WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`, last, q.Rows, s.page)
		if err != nil {
			return fmt.Errorf("sqlite page after id %d: %w", last, err)
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(&r.ID, &r.Name, &r.Note, &blob, &r.Payload); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite row after id %d: %w", last, err)
			}
			copy(r.Blob[:], blob)
			if err := fn(&r); err != nil {
				rows.Close()
				return err
			}
			last, n = r.ID, n+1
		}
		err = errors.Join(rows.Err(), rows.Close())
		if err != nil {
			return fmt.Errorf("sqlite page after id %d: %w", last, err)
		}
		if n < s.page {
			return nil
		}
	}
}

// Write creates a fixture database at path with rows 1..n of the
// synthetic source at the given width: the same rows, so the same bytes,
// as the synthetic source serves. An existing file is replaced.
func Write(path string, n int64, width int) error {
	if n < 0 || n > targets.MaxRows || width < 0 || width > targets.MaxWidth {
		return fmt.Errorf("write sqlite fixture: rows %d or width %d out of range", n, width)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("write sqlite fixture: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return fmt.Errorf("write sqlite fixture: %w", err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`PRAGMA journal_mode = OFF`, `PRAGMA synchronous = OFF`,
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT NOT NULL, blob BLOB NOT NULL, payload TEXT NOT NULL)`,
		`INSERT INTO meta VALUES ('width', '` + strconv.Itoa(width) + `'), ('rows', '` + strconv.FormatInt(n, 10) + `')`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			return fmt.Errorf("write sqlite fixture: %s: %w", stmt, err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("write sqlite fixture: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT INTO rows VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("write sqlite fixture: %w", err)
	}
	src := targets.NewSynthetic()
	var r targets.Row
	for id := int64(1); id <= n; id++ {
		src.Fill(&r, id, width)
		if _, err := ins.Exec(r.ID, r.Name, r.Note, r.Blob[:], r.Payload); err != nil {
			return fmt.Errorf("write sqlite fixture: row %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write sqlite fixture: %w", err)
	}
	return nil
}
