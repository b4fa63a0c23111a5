// Package targets holds the reference servers that floods are aimed at: one
// large-response endpoint built three ways (buffered, streamed, batched), in
// three wire formats, behind an optional byte-budget admission gate. It is
// the thing being measured; it never measures anything itself.
package targets
