package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// SRS (Sender Rewriting Scheme) keeps SPF working for forwarded mail: the
// forwarded copy leaves with an envelope sender at our own domain,
//
//	SRS0=HASH=TT=orig-domain=orig-local@forwarding-domain
//
// where TT is a day stamp and HASH an HMAC over the rest with a secret
// kept in meta ("srs-secret"), so only bounces of mail we forwarded, for
// 21 days, are routed back to the original sender (Route), and nobody can
// use the SRS form to relay through us.

const srsMaxAgeDays = 21

var srsHashEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func srsDays(t time.Time) int { return int(t.Unix()/86400) % 1024 }

func srsStamp(days int) string {
	return string([]byte{srsAlphabet[(days>>5)&31], srsAlphabet[days&31]})
}

const srsAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// srsSecretTx returns the SRS secret, creating it if tx is writable.
func srsSecretTx(tx kv.Tx) []byte {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get([]byte("srs-secret")); len(v) > 0 {
		return append([]byte(nil), v...)
	}
	if !tx.Writable() {
		return nil
	}
	sec := make([]byte, 32)
	rand.Read(sec)
	meta.Put([]byte("srs-secret"), sec)
	return sec
}

func srsHash(secret []byte, stamp, domain, local string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.ToLower(stamp + "=" + domain + "=" + local)))
	return strings.ToLower(srsHashEncoding.EncodeToString(m.Sum(nil))[:8])
}

// SRSForward returns the envelope sender for mail from sender forwarded
// by forwardDomain. The null sender stays null; an address already ours
// is kept. If the rewritten local part would be too long, it returns ""
// (the null sender: a bounce cannot come back, but SPF still passes).
func (s *Store) SRSForward(sender, forwardDomain string) string {
	local, domain, err := SplitAddress(sender)
	if err != nil || sender == "" {
		return ""
	}
	if s.IsHosted(domain) {
		return local + "@" + domain
	}
	var secret []byte
	s.db.Update(func(tx kv.Tx) error {
		secret = srsSecretTx(tx)
		return nil
	})
	stamp := srsStamp(srsDays(time.Now()))
	l := "SRS0=" + srsHash(secret, stamp, domain, local) + "=" + stamp + "=" + domain + "=" + local
	if len(l) > 64 {
		return ""
	}
	return strings.ToLower(l) + "@" + forwardDomain
}

// srsReverseTx decodes an SRS0 local part (as lower-cased by
// NormalizeAddress) into the original address, if its hash is valid and
// it is not older than srsMaxAgeDays.
func (s *Store) srsReverseTx(tx kv.Tx, local string) (string, bool) {
	if !strings.HasPrefix(local, "srs0=") {
		return "", false
	}
	parts := strings.SplitN(local[len("srs0="):], "=", 4)
	if len(parts) != 4 {
		return "", false
	}
	hash, stamp, domain, orig := parts[0], strings.ToUpper(parts[1]), parts[2], parts[3]
	secret := srsSecretTx(tx)
	if secret == nil || len(stamp) != 2 {
		return "", false
	}
	if !hmac.Equal([]byte(srsHash(secret, stamp, domain, orig)), []byte(hash)) {
		return "", false
	}
	d1 := strings.IndexByte(srsAlphabet, stamp[0])
	d2 := strings.IndexByte(srsAlphabet, stamp[1])
	if d1 < 0 || d2 < 0 {
		return "", false
	}
	age := (srsDays(time.Now()) - (d1<<5 | d2) + 1024) % 1024
	if age > srsMaxAgeDays {
		return "", false
	}
	addr, err := NormalizeAddress(orig + "@" + domain)
	if err != nil {
		return "", false
	}
	return addr, true
}
