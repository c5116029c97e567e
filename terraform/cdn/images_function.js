// The images distribution's CloudFront Function (runtime cloudfront-js-2.0), run on viewer request and on
// viewer response. Terraform renders it with templatefile(): preset_formats is a JSON object of the formats
// each preset allows, for presets that do not allow all three. tests/terraform/test_cdn_function.py runs it.
//
// Viewer request: CloudFront cannot vary its cache on Accept, so a rendition asked for without an
// extension is rewritten here to the explicit format the service would negotiate (AVIF, then WebP, then
// JPEG). The rewritten path is the cache key and the S3 key, so every format is cached apart and a
// shared cache is never poisoned. The /images prefix is dropped: S3 keys start at the product id (the API
// origin's path adds it back). Anything that is not an image address is answered 404 at the edge.
//
// Viewer response: a negotiated answer carries Vary: Accept for the caches after CloudFront, and stored
// objects (which S3 serves without Cache-Control) are marked immutable: an image id's bytes never change.

var PRESET_FORMATS = ${preset_formats};
var FORMATS = ['avif', 'webp', 'jpg'];
var MEDIA_TYPES = { avif: 'image/avif', webp: 'image/webp', jpg: 'image/jpeg' };
var NAME = '[A-Za-z0-9][A-Za-z0-9_-]{0,63}';
var RESULT = new RegExp('^/images/(' + NAME + '/' + NAME + ')\\.jpg$');
var RENDITION = new RegExp('^/images/(' + NAME + '/' + NAME + '/(' + NAME + '))(?:\\.(jpg|webp|avif))?$');
var NEGOTIATED = 'x-image-negotiated';
var IMMUTABLE = 'public, max-age=31536000, immutable';

function handler(event) {
    if (event.context.eventType === 'viewer-response') {
        return viewerResponse(event.request, event.response);
    }
    return viewerRequest(event.request);
}

function viewerRequest(request) {
    var result = RESULT.exec(request.uri);
    if (result) {
        request.uri = '/' + result[1] + '.jpg';
        return request;
    }
    var rendition = RENDITION.exec(request.uri);
    if (!rendition) {
        return notFound();
    }
    var format = rendition[3];
    if (!format) {
        format = negotiate(acceptHeader(request.headers), PRESET_FORMATS[rendition[2]] || FORMATS);
        request.headers[NEGOTIATED] = { value: 'true' };
    }
    request.uri = '/' + rendition[1] + '.' + format;
    return request;
}

function viewerResponse(request, response) {
    var headers = response.headers;
    if ((response.statusCode === 200 || response.statusCode === 304) && !headers['cache-control']) {
        headers['cache-control'] = { value: IMMUTABLE };
    }
    if (request.headers[NEGOTIATED] || isNegotiatedAddress(request.uri)) {
        var vary = headers.vary ? headers.vary.value : '';
        if (!/(^|,)\s*accept\s*(,|$)/i.test(vary)) {
            headers.vary = { value: vary ? vary + ', Accept' : 'Accept' };
        }
    }
    return response;
}

// The request as the viewer sent it (whichever form the response event carries).
function isNegotiatedAddress(uri) {
    var rendition = RENDITION.exec(uri);
    return rendition !== null && !rendition[3];
}

function negotiate(accept, allowed) {
    for (var i = 0; i < FORMATS.length; i++) {
        var format = FORMATS[i];
        if (allowed.indexOf(format) >= 0 && (format === 'jpg' || accepts(accept, MEDIA_TYPES[format]))) {
            return format;
        }
    }
    return allowed[0];
}

// Only an explicit media type with a non-zero quality counts: browsers that cannot decode AVIF or WebP
// still send image/* and */*.
function accepts(accept, mediaType) {
    var ranges = accept.toLowerCase().split(',');
    for (var i = 0; i < ranges.length; i++) {
        var parts = ranges[i].split(';');
        if (parts[0].trim() !== mediaType) {
            continue;
        }
        var quality = 1;
        for (var j = 1; j < parts.length; j++) {
            var parameter = parts[j].trim().split('=');
            if (parameter[0].trim() === 'q') {
                quality = parseFloat(parameter[1]);
            }
        }
        return quality > 0;
    }
    return false;
}

function acceptHeader(headers) {
    var accept = headers.accept;
    if (!accept) {
        return '';
    }
    if (accept.multiValue) {
        return accept.multiValue.map(function (item) { return item.value; }).join(',');
    }
    return accept.value;
}

function notFound() {
    return {
        statusCode: 404,
        statusDescription: 'Not Found',
        headers: {
            'content-type': { value: 'application/json' },
            'cache-control': { value: 'no-store' }
        },
        body: {
            encoding: 'text',
            data: '{"error":{"code":"not_found","message":"No image is served at this address."}}'
        }
    };
}
