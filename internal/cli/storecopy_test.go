package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const copyPass = "Copy-Pass-2026-x"

// fillStore makes a store with a user, three messages (one flagged) and
// a large body, and closes it.
func fillStore(t *testing.T, st *store.Store) {
	t.Helper()
	testutil.Domain(t, st, "copy.test", "Domain-Pass-2026-x", true)
	testutil.User(t, st, "ann@copy.test", copyPass)
	for i := range 3 {
		body := fmt.Sprintf("From: b@copy.test\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)
		if i == 2 {
			body += strings.Repeat("x", 200<<10) // over pgkv's page value limit
		}
		flags := []string{}
		if i == 1 {
			flags = []string{`\Flagged`}
		}
		if _, err := st.Append("ann@copy.test", "INBOX", []byte(body), flags, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkStore checks what fillStore wrote, then that the store takes new
// mail (UIDs go on, the id counter came along).
func checkStore(t *testing.T, st *store.Store) {
	t.Helper()
	if _, err := st.Authenticate("ann@copy.test", copyPass); err != nil {
		t.Errorf("login on the copy: %v", err)
	}
	msgs, err := st.ListMessages("ann@copy.test", "INBOX")
	if err != nil || len(msgs) != 3 {
		t.Fatalf("copied INBOX: %d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		_, body, err := st.GetMessage("ann@copy.test", "INBOX", m.UID)
		if err != nil || !strings.Contains(string(body), fmt.Sprintf("body %d", i)) {
			t.Errorf("message %d: %q, %v", m.UID, body, err)
		}
		if (i == 1) != m.HasFlag(`\Flagged`) {
			t.Errorf("message %d flags %v", m.UID, m.Flags)
		}
	}
	m, err := st.Append("ann@copy.test", "INBOX", []byte("Subject: new\r\n\r\nnew\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.UID != msgs[2].UID+1 {
		t.Errorf("new message UID %d after %d", m.UID, msgs[2].UID)
	}
	for _, old := range msgs {
		if m.BodyID == old.BodyID {
			t.Errorf("new body id %d reused an old one: the id counter was not copied", m.BodyID)
		}
	}
}

// TestStoreCopy copies bbolt → PostgreSQL → bbolt with the CLI, and
// reads the copies through the store; the CLI's --store reaches the
// PostgreSQL store; a non-empty target is refused without --force.
func TestStoreCopy(t *testing.T) {
	url := pgtest.URL(t)
	dirA := t.TempDir()
	st, err := store.Open(dirA, store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, st)
	st.Close()

	out, errs, code := runCLI(t, t.TempDir(), "", "store", "copy", filepath.Join(dirA, store.DBFile), url)
	if code != 0 || !strings.Contains(out, "verified:") {
		t.Fatalf("copy to PostgreSQL: exit %d, %s %s", code, out, errs)
	}
	t.Log(out)
	if _, errs, code := runCLI(t, t.TempDir(), "", "store", "copy", dirA, url); code == 0 || !strings.Contains(errs, "not empty") {
		t.Errorf("copy onto a non-empty target: exit %d, %s", code, errs)
	}
	if out, errs, code := runCLI(t, t.TempDir(), "", "user", "list", "copy.test", "--store", url); code != 0 || !strings.Contains(out, "ann@copy.test") {
		t.Errorf("user list --store URL: exit %d, %q %s", code, out, errs)
	}
	if _, errs, code := runCLI(t, t.TempDir(), "", "backup", filepath.Join(t.TempDir(), "b.db"), "--store", url); code == 0 || !strings.Contains(errs, "pg_dump") {
		t.Errorf("backup in PostgreSQL mode: exit %d, %s", code, errs)
	}

	// Back to a new bbolt file, before the PostgreSQL side changes.
	dirB := t.TempDir()
	out, errs, code = runCLI(t, t.TempDir(), "", "store", "copy", url, dirB)
	if code != 0 || !strings.Contains(out, "verified:") {
		t.Fatalf("copy to bbolt: exit %d, %s %s", code, out, errs)
	}
	pg, err := store.OpenBackend(url, t.TempDir(), store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkStore(t, pg)
	pg.Close()
	stB, err := store.Open(dirB, store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()
	checkStore(t, stB)
	if err := stB.Check(); err != nil {
		t.Error(err)
	}
}
