// Behind an API Gateway stage (/v1) the page must end in "/", or every relative URL it loads loses the stage.
if (!location.pathname.endsWith("/")) location.replace(location.pathname + "/" + location.search + location.hash);
