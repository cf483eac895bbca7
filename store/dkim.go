package store

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DKIM keys live in their own bucket, "dkim": domain → DKIMKeySet (JSON).
// A domain gets an ed25519 and an RSA-2048 key when it is added (a
// domainAddHook), so a new domain can sign from its first message. Keys
// are rotated by RotateDKIM: new keys become active and the old ones stay
// in the set, published but unused, until an admin removes them, so mail
// signed just before the rotation still verifies.
var bucketDKIM = []byte("dkim")

// DKIM key algorithms.
const (
	DKIMEd25519 = "ed25519"
	DKIMRSA     = "rsa"
)

// DKIMKey is one signing key and its selector.
type DKIMKey struct {
	Selector string    `json:"selector"`
	Algo     string    `json:"algo"`    // DKIMEd25519 or DKIMRSA
	Private  []byte    `json:"private"` // PKCS#8 DER
	Created  time.Time `json:"created"`
	Active   bool      `json:"active"` // used for signing; inactive keys are only published
}

// DKIMKeySet is every key of a domain, newest first.
type DKIMKeySet struct {
	Keys []DKIMKey `json:"keys"`
}

// Signer parses the private key.
func (k DKIMKey) Signer() (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("parsing DKIM key %s: %w", k.Selector, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("DKIM key %s is not a signing key", k.Selector)
	}
	return s, nil
}

// TXT returns the DNS TXT record value publishing the key (RFC 6376 §3.6.1,
// RFC 8463 for ed25519).
func (k DKIMKey) TXT() (string, error) {
	s, err := k.Signer()
	if err != nil {
		return "", err
	}
	switch pub := s.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("DKIM key %s: unknown key type", k.Selector)
}

// newDKIMKeys makes an ed25519 and an RSA-2048 key with selectors named
// by date (YYYYMMDD + e or r), made unique against the existing set.
func newDKIMKeys(existing []DKIMKey, now time.Time) ([]DKIMKey, error) {
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ed25519 DKIM key: %w", err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating RSA DKIM key: %w", err)
	}
	used := map[string]bool{}
	for _, k := range existing {
		used[k.Selector] = true
	}
	pick := func(suffix string) string {
		base := now.UTC().Format("20060102") + suffix
		sel := base
		for i := 2; used[sel]; i++ {
			sel = fmt.Sprintf("%s%d", base, i)
		}
		used[sel] = true
		return sel
	}
	var out []DKIMKey
	for _, k := range []struct {
		algo, suffix string
		key          any
	}{{DKIMEd25519, "e", edPriv}, {DKIMRSA, "r", rsaPriv}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("encoding DKIM key: %w", err)
		}
		out = append(out, DKIMKey{Selector: pick(k.suffix), Algo: k.algo, Private: der, Created: now.UTC(), Active: true})
	}
	return out, nil
}

// registerDKIMHooks makes keys for every new domain and drops them with
// the domain.
func (s *Store) registerDKIMHooks() {
	s.domainAddHooks = append(s.domainAddHooks, func(tx kv.Tx, d *Domain) error {
		keys, err := newDKIMKeys(nil, time.Now())
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketDKIM)
		if err != nil {
			return err
		}
		return putJSON(b, d.Name, DKIMKeySet{Keys: keys})
	})
	s.domainRemoveHooks = append(s.domainRemoveHooks, func(tx kv.Tx, domain string) error {
		if b := tx.Bucket(bucketDKIM); b != nil {
			return b.Delete([]byte(domain))
		}
		return nil
	})
}

// DKIMKeys returns every key of a hosted domain (active and old), newest
// first. A domain without keys returns an empty set.
func (s *Store) DKIMKeys(domain string) (DKIMKeySet, error) {
	d, err := CanonicalDomain(domain)
	if err != nil {
		return DKIMKeySet{}, err
	}
	var set DKIMKeySet
	err = s.db.View(func(tx kv.Tx) error {
		if tx.Bucket(bucketDomains).Get([]byte(d)) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, d)
		}
		if b := tx.Bucket(bucketDKIM); b != nil {
			if raw := b.Get([]byte(d)); raw != nil {
				return json.Unmarshal(raw, &set)
			}
		}
		return nil
	})
	return set, err
}

// RotateDKIM makes new active keys for a domain; the previous keys stay
// published (inactive). A domain without keys (added before DKIM existed)
// simply gets its first ones. It returns the new set.
func (s *Store) RotateDKIM(domain string) (DKIMKeySet, error) {
	d, err := CanonicalDomain(domain)
	if err != nil {
		return DKIMKeySet{}, err
	}
	old, err := s.DKIMKeys(d)
	if err != nil {
		return DKIMKeySet{}, err
	}
	// Key generation takes a while: do it before the write transaction.
	fresh, err := newDKIMKeys(old.Keys, time.Now())
	if err != nil {
		return DKIMKeySet{}, err
	}
	var set DKIMKeySet
	err = s.db.Update(func(tx kv.Tx) error {
		if tx.Bucket(bucketDomains).Get([]byte(d)) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, d)
		}
		b, err := tx.CreateBucketIfNotExists(bucketDKIM)
		if err != nil {
			return err
		}
		var cur DKIMKeySet
		getJSON(b, d, &cur)
		for i := range cur.Keys {
			cur.Keys[i].Active = false
		}
		set = DKIMKeySet{Keys: append(fresh, cur.Keys...)}
		return putJSON(b, d, set)
	})
	return set, err
}

// RemoveDKIMSelector deletes an inactive key (after its DNS record is
// gone). Active keys cannot be removed: rotate first.
func (s *Store) RemoveDKIMSelector(domain, selector string) error {
	d, err := CanonicalDomain(domain)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDKIM)
		var cur DKIMKeySet
		if b == nil || !getJSON(b, d, &cur) {
			return fmt.Errorf("DKIM selector %s %w", selector, ErrNotFound)
		}
		for i, k := range cur.Keys {
			if strings.EqualFold(k.Selector, selector) {
				if k.Active {
					return fmt.Errorf("DKIM selector %s is in use: rotate the keys first", selector)
				}
				cur.Keys = append(cur.Keys[:i], cur.Keys[i+1:]...)
				return putJSON(b, d, cur)
			}
		}
		return fmt.Errorf("DKIM selector %s %w", selector, ErrNotFound)
	})
}
