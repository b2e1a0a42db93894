package token

import "time"

// SetNow replaces the clock of an in-process deny list, so the shared
// tests in package token_test can move time past an entry's expiry.
func SetNow(m *MemoryDenyList, now func() time.Time) { m.now = now }

// SetStoreNow replaces a key store's clock, so that tests can move time
// past a standby key's publication or a previous key's retirement.
func SetStoreNow(s *KeyStore, now func() time.Time) { s.now = now }
