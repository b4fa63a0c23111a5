package sample

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// FetchHeap downloads a heap profile (pprof, or a JSON heap top) from url. The profile's figures
// describe the Go heap at the last GC, sampled every 512 KiB on average: it
// is not RSS, and reports keep the two apart.
func FetchHeap(ctx context.Context, url string) ([]byte, error) {
	return FetchHeapWith(ctx, http.DefaultClient, url)
}

// FetchHeapWith is FetchHeap through client (an HTTPS target's).
func FetchHeapWith(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch heap profile: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch heap profile: %w", err)
	}
	return b, nil
}
