package storetest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/mailio"
)

func testCertLocks(t *testing.T, b Backend) {
	if err := b.CertPut("certmagic/b/key", []byte("12345")); err != nil {
		t.Fatal(err)
	}
	if err := b.CertPut("certmagic/b/sub/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	size, mtime, err := b.CertStat("certmagic/b/key")
	if err != nil || size != 5 || time.Since(mtime) > time.Hour {
		t.Errorf("CertStat: %d %v %v", size, mtime, err)
	}
	if err := b.CertDelete("certmagic/b"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := b.CertList("certmagic/b"); len(keys) != 0 {
		t.Errorf("CertDelete of a prefix left %v", keys)
	}
	if ok, err := b.CertTryLock("renew", "node-1", 100*time.Millisecond); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if err := b.CertRefreshLock("renew", "node-1", 300*time.Millisecond); err != nil {
		t.Errorf("refreshing a held lock: %v", err)
	}
	if err := b.CertUnlock("renew", "node-2"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.CertTryLock("renew", "node-2", time.Minute); ok {
		t.Error("another owner's unlock released the lock")
	}
	if ok, err := b.CertTryLock("renew", "node-1", time.Minute); err != nil || !ok {
		t.Errorf("the owner could not take its own lock again: %v %v", ok, err)
	}
	if err := b.CertRefreshLock("renew", "node-1", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if ok, err := b.CertTryLock("renew", "node-2", time.Minute); err != nil || !ok {
		t.Errorf("an expired lock could not be taken: %v %v", ok, err)
	}
	if err := b.CertRefreshLock("renew", "node-1", time.Minute); err == nil {
		t.Error("a lost lock was refreshed by its old owner")
	}
}

// testExportImport writes a user's mailboxes out as Maildir and reads
// them into another user: the export needs no backup of the file.
func testExportImport(t *testing.T, b Backend) {
	withUser(t, b)
	appendN(t, b, "INBOX", 2)
	if _, err := b.CreateMailbox(user, "Lists/Go", ""); err != nil {
		t.Fatal(err)
	}
	m, err := b.Append(user, "Lists/Go", msg("go"), []string{`\Seen`, `\Flagged`}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	sum, err := mailio.Export(b, user, dir, nil)
	if err != nil || sum.Messages != 3 {
		t.Fatalf("Export: %+v, %v", sum, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".Lists.Go", "cur")); err != nil {
		t.Errorf("Maildir++ folder of Lists/Go: %v", err)
	}
	const other = "bo@conformance.test"
	if _, err := b.AddUser(other, pw); err != nil {
		t.Fatal(err)
	}
	in, err := mailio.Import(b, other, dir, mailio.Options{})
	if err != nil || in.Messages != 3 {
		t.Fatalf("Import: %+v, %v", in, err)
	}
	list, err := b.ListMessages(other, "Lists/Go")
	if err != nil || len(list) != 1 || !list[0].HasFlag(`\Flagged`) || !list[0].HasFlag(`\Seen`) || list[0].Size != m.Size {
		t.Errorf("imported Lists/Go: %+v, %v", list, err)
	}
	names := []string{}
	boxes, _ := b.ListMailboxes(other)
	for _, mb := range boxes {
		names = append(names, mb.Name)
	}
	if !slices.Contains(names, "Lists/Go") {
		t.Errorf("imported mailboxes: %v", names)
	}
	again, err := mailio.Import(b, other, dir, mailio.Options{})
	if err != nil || again.Messages != 0 || again.Present != 3 {
		t.Errorf("a second import: %+v, %v (nothing new expected)", again, err)
	}
}
