package store

import (
	"bytes"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// The certs bucket is a small key-value space for TLS material (the
// self-signed certificate, and certmagic's storage): key → value bytes.
// Modification times are kept beside each key under "\x00mtime/" + key.

const certMtimePrefix = "\x00mtime/"

// CertGet returns the value stored under key, or ErrNotFound.
func (s *Store) CertGet(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx kv.Tx) error {
		v := tx.Bucket(bucketCerts).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// CertPut stores value under key.
func (s *Store) CertPut(key string, value []byte) error {
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketCerts)
		if err := b.Put([]byte(key), value); err != nil {
			return err
		}
		t, _ := time.Now().UTC().MarshalBinary()
		return b.Put([]byte(certMtimePrefix+key), t)
	})
}

// CertDelete removes key and every key below key + "/".
func (s *Store) CertDelete(key string) error {
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketCerts)
		var dead [][]byte
		c := b.Cursor()
		for k, _ := c.Seek([]byte(key)); k != nil && bytes.HasPrefix(k, []byte(key)); k, _ = c.Next() {
			if len(k) == len(key) || k[len(key)] == '/' {
				dead = append(dead, append([]byte(nil), k...))
			}
		}
		if len(dead) == 0 {
			return fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		for _, k := range dead {
			b.Delete(k)
			b.Delete(append([]byte(certMtimePrefix), k...))
		}
		return nil
	})
}

// CertList returns the keys starting with prefix.
func (s *Store) CertList(prefix string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx kv.Tx) error {
		c := tx.Bucket(bucketCerts).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
			out = append(out, string(k))
		}
		return nil
	})
	return out, err
}

// CertStat returns the size and modification time of key.
func (s *Store) CertStat(key string) (size int64, mtime time.Time, err error) {
	err = s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketCerts)
		v := b.Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		size = int64(len(v))
		if t := b.Get([]byte(certMtimePrefix + key)); t != nil {
			mtime.UnmarshalBinary(t)
		}
		return nil
	})
	return size, mtime, err
}
