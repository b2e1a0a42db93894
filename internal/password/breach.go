package password

import (
	"bufio"
	"context"
	"crypto/sha1" //nolint:gosec // the range API is keyed by SHA-1; nothing is protected by it
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBreachAPI is PASSWORD_BREACH_API_URL's default: Have I Been
// Pwned's Pwned Passwords, whose range API needs no key.
const DefaultBreachAPI = "https://api.pwnedpasswords.com"

// maxRangeBytes bounds a range answer; a real one is about 40 KB
// (padded to 800 to 1,000 suffixes of 40 bytes each).
const maxRangeBytes = 1 << 20

// HIBP checks passwords against a server that speaks the Pwned Passwords
// range API (https://haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange).
// It is k-anonymous: only the first 5 hexadecimal characters of the
// password's SHA-1 leave gqlauth, and the server answers with every
// breached hash that starts with them (about a thousand), padded with
// decoys so that the answer's size says nothing either.
type HIBP struct {
	base    string
	client  *http.Client
	timeout time.Duration
}

// NewHIBP returns a checker of the range API at baseURL
// (PASSWORD_BREACH_API_URL), each request bounded by timeout
// (PASSWORD_BREACH_TIMEOUT). client nil means http.DefaultClient's
// transport.
func NewHIBP(baseURL string, timeout time.Duration, client *http.Client) (*HIBP, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("password: breach API URL must be an http(s) URL, got %q", baseURL)
	}
	if timeout <= 0 {
		return nil, errors.New("password: breach API timeout must be positive")
	}
	if client == nil {
		client = &http.Client{}
	}
	return &HIBP{base: strings.TrimRight(baseURL, "/"), client: client, timeout: timeout}, nil
}

// Breached reports whether the password's SHA-1 is in the corpus with a
// count above zero (padding entries have count 0). Errors name the API's
// host and what went wrong, never the hash prefix.
func (h *HIBP) Breached(ctx context.Context, password string) (bool, error) {
	sum := sha1.Sum([]byte(password)) //nolint:gosec // see the import
	full := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := full[:5], full[5:]
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/range/"+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("breach API: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "gqlauth")
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL: it carries the prefix
		}
		return false, fmt.Errorf("breach API %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("breach API %s: status %d", req.URL.Host, resp.StatusCode)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxRangeBytes))
	for sc.Scan() {
		s, count, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && strings.EqualFold(s, suffix) {
			return strings.TrimLeft(count, "0") != "", nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("breach API %s: reading the answer: %w", req.URL.Host, err)
	}
	return false, nil
}
