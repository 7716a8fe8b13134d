"""End-to-end encrypted direct messages on the client (issue 12).

Small modules with one job each, on ``vodozemac`` (Olm); none writes
cryptography of its own:

- :mod:`.protect`: the pickle key, wrapped under the user's password (argon2id, AES-256-GCM);
- :mod:`.device`: this installation's Olm account, its id and its key supply;
- :mod:`.olm`: the Olm sessions with other devices;
- :mod:`.envelope`: the payload inside each ciphertext, sealing and opening a ``dm``;
- :mod:`.safety`: safety numbers and device checks for ``/verify``;
- :mod:`.store`: the local SQLite store (pickles, verified users, plaintexts) and its lock;
- :mod:`.vault`: the device, its sessions and its store together (blocking; called in a thread);
- :mod:`.devices`: other users' device lists, checked and cached, and whom to trust;
- :mod:`.sender`: sealing a message for every device and queueing it;
- :mod:`.agent`: `E2eSession`, the chat session that does all this around the network.
"""
