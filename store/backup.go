package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// Backups are whole copies of the database file taken inside one read
// transaction (bbolt's Tx.WriteTo): the copy is the state of one commit,
// consistent across every bucket, while writers go on. A read transaction
// keeps the file from growing while it runs, so a backup is written as
// fast as the destination takes it and never waits on the network while
// holding the transaction longer than the copy itself.

// Backup writes a consistent copy of the database to w and returns its
// size in bytes.
func (s *Store) Backup(w io.Writer) (int64, error) {
	f := s.file()
	if f == nil {
		return 0, ErrNoBackup
	}
	n, err := f.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("writing backup: %w", err)
	}
	return n, nil
}

// ErrNoBackup is Backup's answer on a backend without a local file.
var ErrNoBackup = errors.New("backup and restore work on the bbolt store; on PostgreSQL use pg_dump (or `authsmtp store copy postgres://… FILE.db` for a bbolt file)")

// BackupFile writes a consistent copy of the database to path: first to
// a temporary file beside it, fsynced, checked, then renamed into place,
// so path never holds half a backup.
func (s *Store) BackupFile(path string) (int64, error) {
	return s.backupFile(path, true)
}

// backupFile is BackupFile; check=false skips CheckBackup, for the
// pre-migration copy of a file older than the schema key.
func (s *Store) backupFile(path string, check bool) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("creating backup file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := s.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("writing backup %s: %w", path, err)
	}
	if check {
		if _, err := CheckBackup(tmp.Name()); err != nil {
			return n, err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("writing backup %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return n, nil
}

// BackupInfo describes a checked backup file.
type BackupInfo struct {
	Schema   int
	Domains  int
	Users    int
	Messages int
	Queue    int
	Size     int64
}

// ErrBadBackup wraps every reason CheckBackup refuses a file.
var ErrBadBackup = errors.New("not a usable authsmtp backup")

// CheckBackup opens a backup read-only and checks that it is a sound
// bbolt file (every page reachable, no page used twice), that it is an
// authsmtp database, and that this binary can read its schema.
func CheckBackup(path string) (BackupInfo, error) {
	var info BackupInfo
	fi, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("checking backup: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("checking backup %s: %w: not a regular file", path, ErrBadBackup)
	}
	info.Size = fi.Size()
	db, err := boltkv.Open(path, &boltkv.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return info, fmt.Errorf("checking backup %s: %w: %v", path, ErrBadBackup, err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		return info, fmt.Errorf("checking backup %s: %w: damaged file: %v", path, ErrBadBackup, err)
	}
	err = db.View(func(tx kv.Tx) error {
		// Schema 0 files have no schema key (see migrate.go); they are
		// usable: Open upgrades them.
		n, fresh, err := fileSchema(tx)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadBackup, err)
		}
		if fresh || tx.Bucket(bucketDomains) == nil || tx.Bucket(bucketUsers) == nil {
			return fmt.Errorf("%w: a bbolt file, but not an authsmtp database", ErrBadBackup)
		}
		if n > SchemaVersion {
			return fmt.Errorf("%w: written by a newer authsmtp (schema %d, this binary knows up to %d): restore it with that version", ErrBadBackup, n, SchemaVersion)
		}
		info.Schema = n
		count := func(name []byte) int {
			if b := tx.Bucket(name); b != nil {
				return b.KeyN()
			}
			return 0
		}
		info.Domains = count(bucketDomains)
		info.Users = count(bucketUsers)
		info.Queue = count(bucketQueue)
		// Messages are counted per mailbox bucket (the nested buckets' keys).
		if b := tx.Bucket(bucketMessages); b != nil {
			b.ForEachBucket(func(k []byte) error {
				info.Messages += b.Bucket(k).KeyN()
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("checking backup %s: %w", path, err)
	}
	return info, nil
}

// Restore puts the backup at src in place as the database of dataDir. It
// must run with no Store open on dataDir (the server stopped): it takes
// the file lock itself to be sure. The current file, if any, is kept
// beside it as authsmtp.db.before-restore-<time>. The copy is written to
// a temporary file, fsynced and renamed, so a crash leaves either the old
// or the new database, never a mix.
func Restore(dataDir, src string) (kept string, info BackupInfo, err error) {
	info, err = CheckBackup(src)
	if err != nil {
		return "", info, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", info, fmt.Errorf("restoring: %w", err)
	}
	dst := filepath.Join(dataDir, DBFile)
	if _, err := os.Stat(dst); err == nil {
		// Take the lock: if a server holds it, give up with a clear message.
		db, err := boltkv.Open(dst, &boltkv.Options{Timeout: time.Second})
		if err != nil {
			if errors.Is(err, boltkv.ErrTimeout) {
				return "", info, fmt.Errorf("restoring: %w: stop authsmtp serve first", ErrLocked)
			}
			// A damaged current file is a good reason to restore: go on.
		} else {
			defer db.Close()
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return "", info, fmt.Errorf("restoring: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dataDir, "."+DBFile+".restore-*")
	if err != nil {
		return "", info, fmt.Errorf("restoring: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = chownLike(tmp, dataDir)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", info, fmt.Errorf("restoring: copying %s: %w", src, err)
	}
	if _, err := os.Stat(dst); err == nil {
		kept = dst + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Link(dst, kept); err != nil {
			return "", info, fmt.Errorf("restoring: keeping the current database: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return kept, info, fmt.Errorf("restoring: %w", err)
	}
	syncDir(dataDir)
	return kept, info, nil
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// chownLike gives f the owner of dir when running as root: an admin who
// restores as root must not leave a file the service user cannot open.
func chownLike(f *os.File, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return f.Chown(int(st.Uid), int(st.Gid))
	}
	return nil
}
