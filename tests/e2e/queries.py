"""GraphQL documents the end-to-end tests send."""

IMPORT_MODEL = """
mutation($input: ImportModelInput!, $reason: String) {
  importModel(input: $input, reason: $reason) {
    __typename
    ... on ImportSuccess {
      model { id name list description tags { key value } versionCount lastVersionNumber }
      version { id name number format framework runtime status metrics { name value }
                source { kind uri } }
    }
    ... on Error { message }
    ... on ValidationError { field }
  }
}"""

IMPORT_VERSION = """
mutation($modelId: ID!, $version: VersionInput!) {
  importModelVersion(modelId: $modelId, version: $version) {
    __typename
    ... on ImportSuccess { model { versionCount lastVersionNumber } version { id number name } }
    ... on Error { message }
  }
}"""

EDIT_TAGS = """
mutation($modelId: ID!, $tags: [TagInput!]!) {
  editModelTags(modelId: $modelId, tags: $tags) {
    __typename
    ... on ModelPayload { model { tags { key value } } }
    ... on Error { message }
  }
}"""

UPDATE_DESCRIPTION = """
mutation($modelId: ID!, $description: String!) {
  updateModelDescription(modelId: $modelId, description: $description) {
    __typename
    ... on ModelPayload { model { description } }
    ... on Error { message }
  }
}"""

DELETE_MODEL = """
mutation($modelId: ID!, $reason: String) {
  deleteModel(modelId: $modelId, reason: $reason) {
    __typename
    ... on DeleteModelSuccess { deletedModelId deletedVersions }
    ... on Error { message }
  }
}"""

DELETE_VERSION = """
mutation($versionId: ID!) {
  deleteModelVersion(versionId: $versionId) {
    __typename
    ... on DeleteVersionSuccess { deletedVersionId model { versionCount } }
    ... on Error { message }
  }
}"""

MODELS = """
query($list: ModelList! = ORIGINAL, $search: String, $tags: [TagInput!], $format: ModelFormat,
      $first: Int! = 20, $after: String) {
  models(list: $list, search: $search, tags: $tags, format: $format, first: $first, after: $after) {
    edges { cursor node { id name versionCount latestVersion { name format } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

MODEL = """
query($id: ID, $name: String, $asOf: DateTime) {
  model(id: $id, name: $name, asOf: $asOf) {
    id name description deleted asOf tags { key value } versionCount lastVersionNumber
    latestVersion { name }
    versions(first: 100) { nodes { id name format metrics { name value } model { name } } }
  }
}"""

HISTORY = """
query($id: ID!) {
  history(aggregateId: $id) {
    nodes { position aggregateType aggregateVersion type actor recordedAt requestId reason payload }
  }
}"""


def version(fmt: str = "ONNX", **extra: object) -> dict[str, object]:
    return {"format": fmt, **extra}


def model_input(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "version": version(), **extra}
