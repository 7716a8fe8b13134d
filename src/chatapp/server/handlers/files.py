"""Sharing files: uploads (the file sharing service), downloads and download links (the downloads
service)."""

from __future__ import annotations

from chatapp.protocol.file_frames import FileLink, FileRead, UploadCancel, UploadChunk, UploadStart
from chatapp.server.services import Services
from chatapp.server.session import Session


async def on_upload_start(session: Session, frame: UploadStart, services: Services) -> None:
    ready, whole = await services.files.start(session, frame)
    session.send(ready)
    if whole is not None:  # nothing left to send: checked and stored now
        session.send(await services.files.finish(whole))


async def on_upload_chunk(session: Session, frame: UploadChunk, services: Services) -> None:
    ack, whole = await services.files.chunk(session, frame)
    session.send(ack)
    if whole is not None:
        session.send(await services.files.finish(whole))


async def on_upload_cancel(session: Session, frame: UploadCancel, services: Services) -> None:
    session.send(await services.files.cancel(session, frame))


async def on_file_read(session: Session, frame: FileRead, services: Services) -> None:
    await services.downloads.read_in_turn(session, frame)


async def on_file_link(session: Session, frame: FileLink, services: Services) -> None:
    session.send(await services.downloads.link(session, frame))
