"""DynamoDB attribute values to and from Python values, by boto3's own serializer."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def marshal(values: Mapping[str, Any]) -> "dict[str, AttributeValueTypeDef]":
    """{"name": value} -> {"name": {"S": ...}}; numbers as int or Decimal (DynamoDB refuses floats)."""
    return {name: _serializer.serialize(value) for name, value in values.items()}


def unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item or attribute map as DynamoDB returns it -> plain values (numbers become Decimal)."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
