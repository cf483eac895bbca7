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

// Backups are one portable bbolt file holding the state of one commit,
// consistent across every bucket, while writers go on. Bodies kept in
// segment files (bodies.go) are put into the backup's bodies bucket, so
// the backup needs nothing beside it: every bucket of one read
// transaction is copied into a temporary bbolt file in the data
// directory (the bodies read from their segments, which no compaction
// deletes meanwhile), and that file is then streamed to the writer.
// A store without segments is copied as it is (bbolt's Tx.WriteTo).

// Backup writes a consistent copy of the database to w and returns its
// size in bytes.
func (s *Store) Backup(w io.Writer) (int64, error) {
	f := s.file()
	if f == nil {
		return 0, ErrNoBackup
	}
	if s.segs == nil || !s.segs.write && s.noSegmentBodies() {
		// Nothing is in segments, and nothing can be put there meanwhile.
		return s.rawBackup(w)
	}
	s.segs.pin.RLock()
	defer s.segs.pin.RUnlock()
	tmp, err := os.CreateTemp(s.dir, ".backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("writing backup: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	dst, err := boltkv.Open(tmp.Name(), &boltkv.Options{NoSync: true, FreelistType: boltkv.FreelistMapType})
	if err != nil {
		return 0, fmt.Errorf("writing backup: %w", err)
	}
	_, err = copyStore(s.base, dst, s.segs.files, false, true, nil)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("writing backup: %w", err)
	}
	in, err := os.Open(tmp.Name())
	if err != nil {
		return 0, fmt.Errorf("writing backup: %w", err)
	}
	defer in.Close()
	n, err := io.Copy(w, in)
	if err != nil {
		return n, fmt.Errorf("writing backup: %w", err)
	}
	return n, nil
}

// noSegmentBodies reports whether no body is in a segment.
func (s *Store) noSegmentBodies() bool {
	empty := true
	s.db.View(func(tx kv.Tx) error {
		if b := tx.Bucket(bucketBodyLoc); b != nil {
			k, _ := b.Cursor().First()
			empty = k == nil
		}
		return nil
	})
	return empty
}

// rawBackup writes the database file as it is, from one read
// transaction.
func (s *Store) rawBackup(w io.Writer) (int64, error) {
	n, err := s.file().WriteTo(w)
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
	return s.backupFile(path, true, false)
}

// backupFile is BackupFile; check=false skips CheckBackup, for the
// pre-migration copy of a file older than the schema key; raw copies the
// file as it is (before a migration: an older file has no segments).
func (s *Store) backupFile(path string, check, raw bool) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("creating backup file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	backup := s.Backup
	if raw && s.file() != nil {
		backup = s.rawBackup
	}
	n, err := backup(tmp)
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
	stamp := time.Now().UTC().Format("20060102T150405Z")
	if _, err := os.Stat(dst); err == nil {
		kept = dst + ".before-restore-" + stamp
		if err := os.Link(dst, kept); err != nil {
			return "", info, fmt.Errorf("restoring: keeping the current database: %w", err)
		}
	}
	// The current body segments belong to the current database: they
	// are kept beside it (the backup holds its own bodies). A crash
	// between here and the rename leaves the old database without its
	// segments directory: move it back by hand (the error says where).
	segs := filepath.Join(dataDir, segDirName)
	if _, err := os.Stat(segs); err == nil {
		keptSegs := segs + ".before-restore-" + stamp
		if err := os.Rename(segs, keptSegs); err != nil {
			return kept, info, fmt.Errorf("restoring: keeping the current body segments: %w", err)
		}
		syncDir(dataDir)
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
