// Package pgkv implements store/kv on PostgreSQL, so several authsmtp nodes
// can share one store. Everything lives in one table (schema/1.sql): a row
// per key, with the bucket's encoded path; a nested bucket is a row with a
// NULL value in its parent, so cursors show it as bbolt does.
//
// Update is a SERIALIZABLE transaction, retried on a serialization failure
// or a deadlock (which is why kv demands re-runnable update functions);
// View is REPEATABLE READ READ ONLY. Cursors read in pages (keyset
// pagination); values over bigValue bytes are read when landed on, so a
// page of message bodies stays small. Ids come from a sequence (kv.IDs).
//
// Connection loss fails the transaction with an error (the protocol
// layers answer 4xx); the pool reconnects when the database is back.
//
// For the cluster code built on top: Pool is the connection pool (LISTEN/
// NOTIFY, advisory locks, leases on tables of its own).
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DB is a PostgreSQL database as a kv.DB.
type DB struct {
	pool    *pgxpool.Pool
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	force   bool // Options.ForceRetry

	// roots caches top-level buckets known to exist: the store creates
	// them at start and never deletes them, and checking each one in
	// every transaction would cost a round trip each.
	roots sync.Map // string → struct{}

	stats counters
}

var (
	_ kv.DB     = (*DB)(nil)
	_ kv.Tx     = (*tx)(nil)
	_ kv.IDs    = (*tx)(nil)
	_ kv.Bucket = (*bucket)(nil)
	_ kv.Getter = (*bucket)(nil)
	_ kv.Cursor = (*cursor)(nil)
)

// Options tunes Open. The zero value is usable.
type Options struct {
	// TxTimeout bounds one transaction attempt (default 30s): a database
	// that does not answer fails the transaction rather than hang it.
	TxTimeout time.Duration
	// MaxConns caps the pool (default: pgxpool's, or pool_max_conns in
	// the URL).
	MaxConns int32
	// ForceRetry is for tests only (the conformance suite's
	// TestPostgresConformanceForcedRetry): the first attempt of every
	// Update runs its function and then fails as a serialization failure
	// would, so the function always runs twice and one that is not
	// re-runnable (keeps state from the lost attempt) is caught.
	ForceRetry bool
}

// Open connects to the database at url (any libpq URL or key=value
// string; sslmode is honoured) and creates or upgrades the schema.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("reading the PostgreSQL URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.TxTimeout == 0 {
		opts.TxTimeout = 30 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL %s: %w%s", cfg.ConnConfig.Database, err, tlsHint(err))
	}
	bctx, cancel := context.WithCancel(context.Background())
	return &DB{pool: pool, ctx: bctx, cancel: cancel, timeout: opts.TxTimeout, force: opts.ForceRetry}, nil
}

// tlsHint says which URL setting to change when err is a TLS mismatch
// between the URL's sslmode and the server ("" otherwise).
func tlsHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: failed to verify"):
		return " (sslmode=verify-full or verify-ca checks the server's certificate: name its CA with sslrootcert=/path/to/ca.pem in the URL, or use sslmode=require to encrypt without checking)"
	case strings.Contains(msg, "no encryption"):
		return " (the server takes only encrypted connections: use sslmode=require, or verify-full with sslrootcert)"
	case strings.Contains(msg, "server refused TLS"):
		return " (the server does not offer TLS: turn ssl on in postgresql.conf, or use sslmode=disable on a trusted network)"
	}
	return ""
}

// Pool is the connection pool, for code that needs PostgreSQL itself
// (LISTEN/NOTIFY, advisory locks, its own tables).
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes the pool.
func (d *DB) Close() error {
	d.cancel()
	d.pool.Close()
	return nil
}

// maxAttempts bounds the retries of an Update that keeps conflicting.
const maxAttempts = 50

func (d *DB) View(fn func(kv.Tx) error) error {
	return d.run(pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, false, false, fn)
}

func (d *DB) Update(fn func(kv.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := d.run(pgx.TxOptions{IsoLevel: pgx.Serializable}, true, d.force && attempt == 1, fn)
		if err == nil || !Retryable(err) || attempt == maxAttempts {
			return err
		}
		d.stats.retries.Add(1)
		// Back off a little, growing and jittered, so the conflicting
		// writers do not meet again at once.
		wait := time.Duration(rand.IntN(100*min(attempt, 20))) * time.Microsecond * 10
		select {
		case <-time.After(wait):
		case <-d.ctx.Done():
			return err
		}
	}
}

// Batch is Update: PostgreSQL groups concurrent commits' log flushes itself.
func (d *DB) Batch(fn func(kv.Tx) error) error { return d.Update(fn) }

// Retryable reports whether err is a serialization failure or a deadlock:
// the transaction changed nothing and may be run again.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// errForcedRetry is the serialization failure ForceRetry makes up.
var errForcedRetry = &pgconn.PgError{Code: "40001", Message: "forced retry (pgkv.Options.ForceRetry)"}

// run runs fn in one transaction and commits it if writable; with lose
// (ForceRetry's first attempt) it rolls back and fails as a serialization
// failure instead.
func (d *DB) run(opts pgx.TxOptions, writable, lose bool, fn func(kv.Tx) error) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	d.stats.transactions.Add(1)
	if writable {
		d.stats.writes.Add(1)
	}
	d.stats.statements.Add(2) // BEGIN, and COMMIT or ROLLBACK
	d.stats.roundTrips.Add(2)
	ptx, err := d.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	t := &tx{db: d, ctx: ctx, ptx: ptx, writable: writable}
	defer func() {
		if p := recover(); p != nil {
			ptx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	err = fn(t)
	if t.err != nil {
		// A failed read or write decides, whatever fn made of it.
		err = t.err
	}
	if err == nil && writable {
		// The writes fn left pending (writes.go) go before the commit.
		err = t.flush()
	}
	if err == nil && lose {
		err = errForcedRetry
	}
	if err != nil || !writable {
		ptx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("PostgreSQL commit: %w", err)
	}
	return nil
}

type tx struct {
	db       *DB
	ctx      context.Context
	ptx      pgx.Tx
	writable bool
	err      error  // the first failure; the transaction fails with it
	gen      uint64 // bumped by every write: open cursors re-read

	// buckets caches which bucket paths exist in this transaction.
	buckets map[string]bool
	// reads and writes (writes.go): values read in this transaction, and
	// writes not yet sent.
	reads  map[cell][]byte
	writes map[cell]pendingWrite
}

// fail records the first error of the transaction.
func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = fmt.Errorf("PostgreSQL: %w", err)
	}
}

func (t *tx) Writable() bool { return t.writable }

func (t *tx) root() *bucket { return &bucket{tx: t, path: []byte{}} } // not nil: NULL

func (t *tx) Bucket(name []byte) kv.Bucket { return t.root().Bucket(name) }
func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) {
	return t.root().CreateBucket(name)
}
func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	return t.root().CreateBucketIfNotExists(name)
}
func (t *tx) DeleteBucket(name []byte) error { return t.root().DeleteBucket(name) }
func (t *tx) Cursor() kv.Cursor              { return t.root().Cursor() }

// NextID takes an id from the sequence: no row is shared, so concurrent
// writers do not conflict on it (a retried transaction leaves a gap).
func (t *tx) NextID() (uint64, error) {
	var n int64
	t.stmt()
	if err := t.ptx.QueryRow(t.ctx, "SELECT nextval('kv_ids')").Scan(&n); err != nil {
		t.fail(err)
		return 0, t.err
	}
	return uint64(n), nil
}

// LastID is the largest id the sequence gave (0 if none).
func (t *tx) LastID() (uint64, error) {
	var n int64
	var called bool
	t.stmt()
	if err := t.ptx.QueryRow(t.ctx, "SELECT last_value, is_called FROM kv_ids").Scan(&n, &called); err != nil {
		t.fail(err)
		return 0, t.err
	}
	if !called {
		return 0, nil
	}
	return uint64(n), nil
}

// EnsureID makes later ids larger than n.
func (t *tx) EnsureID(n uint64) error {
	last, err := t.LastID()
	if err != nil || n <= last {
		return err
	}
	t.stmt()
	if _, err := t.ptx.Exec(t.ctx, "SELECT setval('kv_ids', $1)", int64(n)); err != nil {
		t.fail(err)
		return t.err
	}
	return nil
}
