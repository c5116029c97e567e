import uuid


def new_image_id() -> str:
    return uuid.uuid4().hex
