"""The window's Documents: collections, their files and indexing progress.

- progress: the indexer's progress, carried to the GUI thread (queued, coalesced) and said
  in words for the progress line
- files_model: a collection's files as a table model (state, reason, chunks, embedded)
- dialog: the Documents dialog (collections, files, add/remove, drag and drop, pause)

The window's part that owns the library is ui/window/documents.py; the Sources list under
a reply is ui/sources.py and the passage preview ui/document_preview.py. Nothing here
calls the library on the GUI thread: every call runs on the window's task pool.
"""
