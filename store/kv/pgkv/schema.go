package pgkv

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The schema is created and upgraded by the binary: schema/N.sql takes a
// database from version N-1 to N. All pending steps run in one
// transaction under an advisory lock, so nodes starting together upgrade
// once and a failing step changes nothing. A database written by a newer
// binary (a version above SchemaVersion) is refused, as with bbolt.

//go:embed schema/*.sql
var schemaFS embed.FS

// SchemaVersion is the newest schema this binary knows.
var SchemaVersion = len(mustSteps())

// migrateLock is the advisory lock key held while the schema is upgraded.
const migrateLock = 0x61757468736d7470 // "authsmtp"

type step struct {
	version int
	sql     string
}

func mustSteps() []step {
	steps, err := schemaSteps()
	if err != nil {
		panic(err)
	}
	return steps
}

func schemaSteps() ([]step, error) {
	names, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	var steps []step
	for _, name := range names {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "schema/"), ".sql"))
		if err != nil {
			return nil, fmt.Errorf("schema file %s: %w", name, err)
		}
		b, err := schemaFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step{n, string(b)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].version < steps[j].version })
	for i, s := range steps {
		if s.version != i+1 {
			return nil, fmt.Errorf("schema steps are not 1..n: found %d at position %d", s.version, i+1)
		}
	}
	return steps, nil
}

// migrate brings the database's schema to SchemaVersion.
func migrate(ctx context.Context, conn interface {
	Begin(context.Context) (pgx.Tx, error)
}) error {
	steps, err := schemaSteps()
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
		return fmt.Errorf("locking the schema: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS authsmtp_schema (version int NOT NULL)"); err != nil {
		return fmt.Errorf("creating the schema table: %w", err)
	}
	var have int
	err = tx.QueryRow(ctx, "SELECT version FROM authsmtp_schema").Scan(&have)
	switch {
	case err == pgx.ErrNoRows:
		if _, err := tx.Exec(ctx, "INSERT INTO authsmtp_schema (version) VALUES (0)"); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if have > len(steps) {
		return fmt.Errorf("the database was written by a newer authsmtp (schema %d, this binary knows up to %d): upgrade authsmtp", have, len(steps))
	}
	for _, s := range steps[have:] {
		if _, err := tx.Exec(ctx, s.sql); err != nil {
			return fmt.Errorf("upgrading the database schema to %d: %w", s.version, err)
		}
	}
	if have < len(steps) {
		if _, err := tx.Exec(ctx, "UPDATE authsmtp_schema SET version = $1", len(steps)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
