// Package local implements store.Store on a directory: a folder that behaves
// like a cold store. It is meant for tests and for real backups to an
// external disk, so every write is crash-safe and durable.
//
// # Layout
//
//	DIR/grsync-store.json         marker: {"format": "grsync-local-store", "version": 1, "created": ...}
//	DIR/archives/<id>             an archive's bytes
//	DIR/archives/<id>.json        its metadata: description, size, created, tree_hash
//	DIR/uploads/<upload-id>.part  the bytes of a Put in progress
//	DIR/uploads/<upload-id>.json  its description, start time, archive id and (resumable) part size
//	DIR/jobs/<job-id>.json        a pending retrieval (only with Options.RetrievalDelay)
//	DIR/refs/<name>               a ref (store.Store.Refs): the file holds its value
//
// Archive ids are 43 characters of url-safe base64 drawn from 32 random
// bytes: neither guessable nor derived from the content. Archives placed with
// Seed keep the id they were given (for example a Glacier archive id), which
// must consist of 1 to 200 characters from [A-Za-z0-9_-]. tree_hash is the
// lower-case hex of the Glacier-style SHA-256 tree hash of the bytes (1 MiB
// leaves, pairwise SHA-256 of concatenated children, a lone node promoted).
//
// New refuses a directory that holds anything but has no marker, and a
// marker whose version is newer than this package knows.
//
// # Write ordering
//
// Put MUST write the bytes to uploads/<upload-id>.part and fsync them, then
// rewrite uploads/<upload-id>.json with the final metadata and fsync it, then
// rename the bytes to archives/<id>, then rename the metadata to
// archives/<id>.json, then fsync archives/ and uploads/. An archive whose
// metadata is present therefore always has its bytes; an archives/<id> without
// its .json is the leftover of a crash between the two renames and is never
// listed. Anything left in uploads/ is reported by ListUploads and removed by
// AbortUpload. A Put that fails or is cancelled removes its upload files.
//
// # Resumable uploads
//
// PutResumable writes as Put does, and records Options.PartSize in
// uploads/<upload-id>.json. It writes the first part, and only if the body
// goes on calls ResumeOptions.Started (ref: the upload id and part size);
// a shorter body is published as by Put. After Started, a body error,
// cancellation or a transient file system error leaves the upload files
// (the bytes fsynced) instead of removing them. A process killed at any
// moment leaves files in uploads/ that ListUploads lists: either a
// continuable upload or, killed before the .part file exists or after it
// was renamed, one that continuing reports as store.ErrCannotResume (with
// store.ErrNotFound) and AbortUpload removes.
//
// Continuing an upload checks its record (made by PutResumable, same part
// size and description). The parts it holds are the whole parts in its
// .part file; each is read back and compared byte for byte with the body,
// changing nothing, so a part that differs (store.ErrCannotResume) leaves
// the upload as it was. Once all compare equal, the file is cut after the
// last whole part and the rest of the body appended; then the upload is
// published as by Put.
//
// SetRef writes refs/.<name>.<random>.tmp, fsyncs it, renames it to
// refs/<name> and fsyncs refs/; names that are not valid ref names (such a
// temporary file left by a crash) are never read as refs. refs/ is created
// (and DIR fsynced) by the first SetRef, so opening a store, even on a
// read-only disk, writes nothing new.
//
// Delete removes the metadata first, so a crash in between leaves unlisted
// bytes rather than a listed archive without bytes.
//
// A listing (Inventory) gives each archive's size as that of its data file
// and leaves out an archive whose data file is missing, so that damage done
// to the folder by hand (a deleted or truncated data file) shows in verify.
//
// # Retrievals
//
// Retrievals are ready at once (JobID "") unless Options.RetrievalDelay is
// set. Then Request writes jobs/<job-id>.json holding the request time and the
// time the output becomes readable, so Poll gives the same answer after a
// restart of the process. A byte range asked of Request (store.Retrieval
// Offset and Length) is checked and ignored: the whole archive is readable.
package local
