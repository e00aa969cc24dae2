// GOV.UK Frontend's components style themselves for JavaScript only when the body says it runs (and supports
// ES modules). A file, not an inline script: the Content-Security-Policy allows scripts from this app only.
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
