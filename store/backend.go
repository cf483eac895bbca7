package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv/pgkv"
	"github.com/authsmtp/authsmtp/store/pgfeed"
)

// IsPostgres reports whether a --store value names PostgreSQL (a
// postgres:// or postgresql:// URL) rather than the bbolt file.
func IsPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// CheckSpec says what is wrong with a --store value, nil if usable.
func CheckSpec(spec string) error {
	if spec == "" || spec == "bbolt" || IsPostgres(spec) {
		return nil
	}
	return fmt.Errorf("--store %q: use bbolt (the file in --data, the default) or a postgres://user:password@host/db?sslmode=… URL", RedactSpec(spec))
}

// RedactSpec is spec with any password replaced, for messages and logs.
func RedactSpec(spec string) string {
	if !IsPostgres(spec) {
		return spec
	}
	scheme, rest, _ := strings.Cut(spec, "://")
	at := strings.LastIndex(rest, "@")
	if slash := strings.Index(rest, "/"); at < 0 || (slash >= 0 && slash < at) {
		return spec
	}
	if user, _, ok := strings.Cut(rest[:at], ":"); ok {
		return scheme + "://" + user + ":xxxxx" + rest[at:]
	}
	return spec
}

// OpenBackend opens the store that spec names: "" or "bbolt" is the bbolt
// file in dir (Open); a postgres:// URL is PostgreSQL, shared by every
// node that names it (the throttle and send caps count in the database:
// Options.Shared). dir stays the data directory either way (spool files).
func OpenBackend(spec, dir string, opts Options) (*Store, error) {
	if err := CheckSpec(spec); err != nil {
		return nil, err
	}
	if !IsPostgres(spec) {
		return Open(dir, opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgkv.Open(ctx, spec, pgkv.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening the store %s: %w", RedactSpec(spec), err)
	}
	opts.Shared = true
	if opts.Feed == nil {
		// Events and revocations cross nodes by LISTEN/NOTIFY on the
		// same database; the store closes the feed with itself.
		f, err := pgfeed.New(spec, opts.Logger)
		if err != nil {
			db.Close()
			return nil, err
		}
		opts.Feed, opts.feedCloser = f, f.Close
	}
	return OpenDB(db, dir, opts)
}
