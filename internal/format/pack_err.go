package format

// Err returns the writer's sticky error: the pack's destination failed, or
// the writer is closed. A member that failed to read its content (the file
// changed) does not set it.
func (w *PackWriter) Err() error { return w.err }
