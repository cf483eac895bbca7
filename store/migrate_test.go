package store

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// writeSchema0 writes a database the way the first layout did: a meta
// bucket without a schema key, bodies without reference counts, no
// sessions bucket. Body 100 is shared by an INBOX message and a queue
// entry; body 101 belongs to nothing.
func writeSchema0(t *testing.T, dir string, badMessage bool) {
	t.Helper()
	db, err := boltkv.Open(filepath.Join(dir, DBFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := HashPassword("secret-pw")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx kv.Tx) error {
		mk := func(name []byte) kv.Bucket {
			b, err := tx.CreateBucket(name)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		meta := mk(bucketMeta)
		meta.Put([]byte("seq"), u64(200))
		dom, _ := json.Marshal(Domain{Name: "old.test", SMTP: true, Created: time.Now()})
		mk(bucketDomains).Put([]byte("old.test"), dom)
		usr, _ := json.Marshal(User{Address: "ann@old.test", PasswordHash: hash, Created: time.Now()})
		mk(bucketUsers).Put([]byte("ann@old.test"), usr)
		ub, _ := mk(bucketMailboxes).CreateBucket([]byte("ann@old.test"))
		mbox, _ := json.Marshal(Mailbox{ID: 7, Name: "INBOX", UIDValidity: 7, UIDNext: 2, HighestModSeq: 2, Subscribed: true, Messages: 1, Unseen: 1, Size: 30})
		ub.Put([]byte("INBOX"), mbox)
		msgs, _ := mk(bucketMessages).CreateBucket(u64(7))
		msg, _ := json.Marshal(Message{UID: 1, Date: time.Now(), Size: 30, BodyID: 100, ModSeq: 2})
		if badMessage {
			msg = []byte("{not json")
		}
		msgs.Put(u32(1), msg)
		bodies := mk(bucketBodies)
		bodies.Put(u64(100), []byte("Subject: kept\r\n\r\nold body ...\r\n"))
		bodies.Put(u64(101), []byte("Subject: orphan\r\n\r\n\r\n"))
		q, _ := json.Marshal(QueueEntry{ID: "00000000000000c8", From: "ann@old.test", BodyID: 100, Size: 30,
			Rcpts: []QueueRcpt{{Address: "x@remote.example", Status: RcptPending}}, Created: time.Now()})
		mk(bucketQueue).Put([]byte("00000000000000c8"), q)
		mk(bucketCerts)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenMigratesSchema0(t *testing.T) {
	dir := t.TempDir()
	writeSchema0(t, dir, false)
	st := openTestStore(t, dir)

	// A copy of the old file was written beside it first, and is still schema 0.
	backups, _ := filepath.Glob(filepath.Join(dir, DBFile+".schema-0-backup-*"))
	if len(backups) != 1 {
		t.Fatalf("pre-migration backups: %v", backups)
	}
	old, err := boltkv.Open(backups[0], &boltkv.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	old.View(func(tx kv.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("schema")) != nil || tx.Bucket(bucketBodyRefs) != nil {
			t.Error("the backup is not the old layout")
		}
		return nil
	})
	old.Close()

	st.db.View(func(tx kv.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get([]byte("schema"))); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema after migration %q", v)
		}
		refs := tx.Bucket(bucketBodyRefs)
		if v := refs.Get(u64(100)); len(v) != 4 || binary.BigEndian.Uint32(v) != 2 {
			t.Errorf("refs of the shared body: %v", v)
		}
		if tx.Bucket(bucketBodies).Get(u64(101)) != nil {
			t.Error("orphan body kept")
		}
		return nil
	})
	if _, err := st.Authenticate("ann@old.test", "secret-pw"); err != nil {
		t.Fatalf("old user cannot log in: %v", err)
	}
	// The migrated counts work: dropping the queue entry keeps the body
	// the mailbox still needs.
	if err := st.DeleteQueue("00000000000000c8"); err != nil {
		t.Fatal(err)
	}
	ms, err := st.ListMessages("ann@old.test", "INBOX")
	if err != nil || len(ms) != 1 {
		t.Fatalf("messages %v %v", ms, err)
	}
	if b, err := st.Body(ms[0].BodyID); err != nil || !strings.Contains(string(b), "old body") {
		t.Fatalf("body after queue removal: %q %v", b, err)
	}
	// Opening again does not migrate again.
	st.Close()
	st2 := openTestStore(t, dir)
	st2.Close()
	if b, _ := filepath.Glob(filepath.Join(dir, DBFile+".schema-*")); len(b) != 1 {
		t.Fatalf("second open made another backup: %v", b)
	}
}

// A migration that fails leaves the file exactly as it was.
func TestFailedMigrationChangesNothing(t *testing.T) {
	dir := t.TempDir()
	writeSchema0(t, dir, true)
	if st, err := Open(dir, Options{}); err == nil {
		st.Close()
		t.Fatal("a file with a broken record migrated")
	} else if !strings.Contains(err.Error(), "migrating to schema 1") || !strings.Contains(err.Error(), "unchanged") {
		t.Fatalf("error does not say what happened: %v", err)
	}
	db, err := boltkv.Open(filepath.Join(dir, DBFile), &boltkv.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx kv.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("schema")) != nil || tx.Bucket(bucketBodyRefs) != nil {
			t.Error("the failed migration left changes")
		}
		return nil
	})
}

// An older binary refuses a file written by a newer one, saying so.
func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir)
	st.db.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion+1)))
	})
	st.Close()
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer authsmtp") {
		t.Fatalf("newer file opened: %v", err)
	}
	if b, _ := filepath.Glob(filepath.Join(dir, DBFile+".schema-*")); len(b) != 0 {
		t.Fatalf("a refused file was backed up/migrated: %v", b)
	}
}

// The automatic pre-migration copy (schema 0) can be restored with the
// new binary, which upgrades it again at Open.
func TestRestoreSchema0Backup(t *testing.T) {
	dir := t.TempDir()
	writeSchema0(t, dir, false)
	old := filepath.Join(t.TempDir(), "old.db")
	raw, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(old, raw, 0o600)
	info, err := CheckBackup(old)
	if err != nil || info.Schema != 0 || info.Users != 1 || info.Messages != 1 {
		t.Fatalf("schema 0 backup: %+v %v", info, err)
	}
	data := filepath.Join(t.TempDir(), "data")
	if _, _, err := Restore(data, old); err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t, data)
	if _, err := st.Authenticate("ann@old.test", "secret-pw"); err != nil {
		t.Fatal(err)
	}
}
