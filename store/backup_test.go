package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestBackupUnderLoadAndRestore takes a hot backup while writers keep
// accepting mail, restores it into a fresh data directory and finds every
// domain, user, password, message, queue entry and certificate committed
// before the backup began, with body reference counts intact.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir)
	for _, d := range []string{"one.test", "two.test"} {
		if _, err := st.AddDomain(d); err != nil {
			t.Fatal(err)
		}
		if err := st.SetDomainPassword(d, "Dom-k9W!q-z7-"+d); err != nil {
			t.Fatal(err)
		}
		if err := st.SetDomainSwitch(d, "smtp", true); err != nil {
			t.Fatal(err)
		}
	}
	users := []string{"a@one.test", "b@one.test", "c@two.test"}
	for _, u := range users {
		if _, err := st.AddUser(u, "Pw-k9W!q-"+u); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CertPut("certificates/x/host.crt", []byte("PEM DATA")); err != nil {
		t.Fatal(err)
	}

	// Mail committed before the backup: these must all be in it.
	var before []string
	for i := 0; i < 30; i++ {
		subj := fmt.Sprintf("before-%d", i)
		in := &Incoming{From: users[0], Login: users[0], Local: []LocalRcpt{{Address: users[i%3]}},
			Remote: []string{"x@remote.example"}, Body: []byte("Subject: " + subj + "\r\n\r\nbody " + subj + "\r\n")}
		if _, err := st.Accept(in); err != nil {
			t.Fatal(err)
		}
		before = append(before, subj)
	}

	// Writers keep going during the backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := bytes.Repeat([]byte("x"), 2000)
				in := &Incoming{From: users[1], Local: []LocalRcpt{{Address: users[w%3]}}, Remote: []string{"y@remote.example"},
					Body: append([]byte(fmt.Sprintf("Subject: during-%d-%d\r\n\r\n", w, i)), body...)}
				if _, err := st.Accept(in); err != nil {
					t.Error(err)
					return
				}
				during.Add(1)
			}
		}(w)
	}
	// Wait until the writers are really running.
	for during.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	n, err := st.BackupFile(backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Fatalf("backup size %d", n)
	}
	info, err := CheckBackup(backup)
	if err != nil {
		t.Fatal(err)
	}
	if info.Domains != 2 || info.Users != 3 || info.Messages < 30 || info.Queue < 30 || info.Schema != SchemaVersion {
		t.Fatalf("backup info %+v", info)
	}

	fresh := filepath.Join(t.TempDir(), "restored")
	kept, _, err := Restore(fresh, backup)
	if err != nil {
		t.Fatal(err)
	}
	if kept != "" {
		t.Fatalf("nothing to keep in a fresh dir, got %s", kept)
	}
	rs := openTestStore(t, fresh)
	ds, err := rs.ListDomains()
	if err != nil || len(ds) != 2 {
		t.Fatalf("domains %v %v", ds, err)
	}
	for _, d := range []string{"one.test", "two.test"} {
		if _, err := rs.Authenticate(d, "Dom-k9W!q-z7-"+d); err != nil {
			t.Errorf("domain password of %s: %v", d, err)
		}
	}
	for _, u := range users {
		if _, err := rs.Authenticate(u, "Pw-k9W!q-"+u); err != nil {
			t.Errorf("password of %s: %v", u, err)
		}
		if _, err := rs.Authenticate(u, "wrong"); err == nil {
			t.Errorf("wrong password accepted for %s", u)
		}
	}
	if v, err := rs.CertGet("certificates/x/host.crt"); err != nil || string(v) != "PEM DATA" {
		t.Fatalf("certificate %q %v", v, err)
	}
	seen := map[string]bool{}
	for _, u := range users {
		ms, err := rs.ListMessages(u, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			body, err := rs.Body(m.BodyID)
			if err != nil {
				t.Fatalf("message %d of %s has no body: %v", m.UID, u, err)
			}
			if int64(len(body)) != m.Size {
				t.Fatalf("size %d != %d", len(body), m.Size)
			}
			subj := strings.TrimPrefix(strings.SplitN(string(body), "\r\n", 2)[0], "Subject: ")
			seen[subj] = true
		}
	}
	for _, s := range before {
		if !seen[s] {
			t.Errorf("message %s missing after restore", s)
		}
	}
	q, err := rs.ListQueue()
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]bool{}
	for _, e := range q {
		body, err := rs.Body(e.BodyID)
		if err != nil {
			t.Fatalf("queue entry %s has no body: %v", e.ID, err)
		}
		queued[strings.TrimPrefix(strings.SplitN(string(body), "\r\n", 2)[0], "Subject: ")] = true
	}
	for _, s := range before {
		if !queued[s] {
			t.Errorf("queue entry for %s missing after restore", s)
		}
	}
	// The refcounts in the copy agree with its records (one consistent
	// commit): recounting them changes nothing.
	checkBodyRefs(t, rs)
}

// checkBodyRefs recounts body references and compares with bodyrefs.
func checkBodyRefs(t *testing.T, st *Store) {
	t.Helper()
	err := st.db.Update(func(tx kv.Tx) error {
		want := map[string]string{}
		tx.Bucket(bucketBodyRefs).ForEach(func(k, v []byte) error { want[string(k)] = string(v); return nil })
		if err := migrateCountBodyRefs(tx); err != nil {
			return err
		}
		got := map[string]string{}
		tx.Bucket(bucketBodyRefs).ForEach(func(k, v []byte) error { got[string(k)] = string(v); return nil })
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Errorf("body refs differ from a recount: %d stored, %d counted", len(want), len(got))
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
}

var errRollback = errors.New("rollback")

func TestRestoreRefusesBadFilesAndKeepsOld(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	if _, _, err := Restore(filepath.Join(dir, "data"), junk); !errors.Is(err, ErrBadBackup) {
		t.Fatalf("junk restored: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", DBFile)); err == nil {
		t.Fatal("a refused restore created a database")
	}

	// A restore over an existing database keeps the old one beside it.
	data := filepath.Join(dir, "data2")
	st, err := Open(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.AddDomain("old.test")
	// Restoring while the store is open (server running) is refused.
	other, err := Open(filepath.Join(dir, "src"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	other.AddDomain("new.test")
	bk := filepath.Join(dir, "bk.db")
	if _, err := other.BackupFile(bk); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, _, err := Restore(data, bk); !errors.Is(err, ErrLocked) {
		t.Fatalf("restore under a running store: %v", err)
	}
	st.Close()
	kept, _, err := Restore(data, bk)
	if err != nil {
		t.Fatal(err)
	}
	if kept == "" {
		t.Fatal("old database not kept")
	}
	rs := openTestStore(t, data)
	if _, err := rs.GetDomain("new.test"); err != nil {
		t.Fatal("restored database lacks new.test")
	}
	if _, err := rs.GetDomain("old.test"); err == nil {
		t.Fatal("old database still in place")
	}
	if _, err := CheckBackup(kept); err != nil {
		t.Fatalf("kept copy unusable: %v", err)
	}
}

// Restoring as root leaves the database owned like its data directory
// (the service user), not by root.
func TestRestoreKeepsDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change owners")
	}
	src := openTestStore(t, t.TempDir())
	src.AddDomain("own.test")
	bk := filepath.Join(t.TempDir(), "bk.db")
	if _, err := src.BackupFile(bk); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(data, 0o700)
	if err := os.Chown(data, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Restore(data, bk); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(data, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65532 || st.Gid != 65532 {
		t.Fatalf("restored file owned by %d:%d", st.Uid, st.Gid)
	}
}
