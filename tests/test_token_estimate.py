"""The local input-token estimate (count_tokens, message_start usage)."""

import base64
import struct
import zlib

from transforms.anthropic.decode_request import decode_messages_request
from transforms.ir import ImagePart
from transforms.token_estimate import MAX_IMAGE_TOKENS, TOOL_USE_OVERHEAD, estimate_input_tokens, image_size, image_tokens


def png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk).decode()


def jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return base64.b64encode(b"\xff\xd8" + app0 + sof0 + b"\xff\xd9").decode()


def gif(width: int, height: int) -> str:
    return base64.b64encode(b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 8).decode()


def test_image_sizes_from_headers():
    assert image_size(png(166, 282)) == (166, 282)
    assert image_size(jpeg(640, 480)) == (640, 480)
    assert image_size(gif(10, 20)) == (10, 20)
    assert image_size(base64.b64encode(b"not an image").decode()) is None


def test_image_tokens_scale_with_pixels_and_are_capped():
    assert image_tokens(ImagePart(data=png(166, 282), media_type="image/png")) == 166 * 282 // 750
    assert image_tokens(ImagePart(data=jpeg(4000, 3000), media_type="image/jpeg")) == MAX_IMAGE_TOKENS
    assert image_tokens(ImagePart(url="https://example.com/a.png")) == MAX_IMAGE_TOKENS  # size unknown


def request(**body):
    return decode_messages_request({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "Hello there"}], **body})


def test_tools_and_output_schemas_carry_their_hidden_prompt():
    plain = estimate_input_tokens(request())
    tool = {"name": "w", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    assert estimate_input_tokens(request(tools=[tool])) >= plain + TOOL_USE_OVERHEAD
    schema = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    assert estimate_input_tokens(request(output_config=schema)) > plain + 200


def test_text_is_about_four_and_a_half_characters_per_token():
    long = estimate_input_tokens(request(messages=[{"role": "user", "content": "x" * 4500}]))
    assert 1000 <= long <= 1020
