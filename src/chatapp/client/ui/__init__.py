"""What the user sees and types: the chat's state, the chat screen, line mode, signing in.

Pure (no prompt_toolkit, no asyncio): :mod:`.state` with :mod:`.model`,
:mod:`.requests`, :mod:`.targets`, :mod:`.chatlog`, :mod:`.roster` (what is
shown), :mod:`.perform`, :mod:`.commands`, :mod:`.actions` (what a typed line
does), :mod:`.lines`, :mod:`.sentences`, :mod:`.sanitize`, :mod:`.wrap`,
:mod:`.width` (how it reads). On the terminal: :mod:`.screen`, :mod:`.bars`,
:mod:`.pane`, :mod:`.completion` (the full-screen application),
:mod:`.signin` (the dialogue before it), :mod:`.linemode` (no terminal).
"""
